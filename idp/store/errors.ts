// Errors the store raises for conditions callers are expected to handle.

export class NotFoundError extends Error {
  override name = "NotFoundError";
}

export class ConflictError extends Error {
  override name = "ConflictError";
}

/** True when a pg error is a unique-constraint violation (of the named constraint or index, when given). */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const pgError = error as { code?: string; constraint?: string } | null;
  return pgError?.code === "23505" && (constraint === undefined || pgError.constraint === constraint);
}
