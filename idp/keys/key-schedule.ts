// Which signing key signs and which keys are published, at a given moment, computed from the key
// files alone: every instance reading the same files with the same clock agrees, with no
// coordination. Staged rotation is a key whose activatesAt lies in the future: published at once,
// signing only from activatesAt; the key it replaces stays published until every token it signed
// has expired, then retires.
import type { SigningKey } from "./signing-keys.ts";

export type KeyStatus = "next" | "signing" | "retiring" | "retired" | "revoked" | "published";

export type KeyTimeline = {
  key: SigningKey;
  status: KeyStatus;
  /** When it signs (or signed) from; absent for keys that never sign. */
  activatesAt?: Date;
  /** When it stops being published (for a key another has replaced). */
  retiresAt?: Date;
};

export type KeySchedulePolicy = {
  /** The longest lifetime of anything signed with these keys (ID tokens, service tokens). */
  maxSignedTokenTtlSeconds: number;
  /** Extra time on both sides of a rotation, for clock skew and instances picking up files late. */
  marginSeconds: number;
};

export type KeySchedule = {
  timeline: KeyTimeline[];
  signing: SigningKey | undefined;
  /** What the JWKS publishes, the signing key first (oidc-provider signs with the first key). */
  published: SigningKey[];
};

const activation = (key: SigningKey) => new Date(key.activatesAt ?? key.createdAt);

export function keySchedule(keys: SigningKey[], at: Date, policy: KeySchedulePolicy): KeySchedule {
  const revoked = (key: SigningKey) => key.revokedAt !== undefined && new Date(key.revokedAt) <= at;
  const signers = keys
    .filter((key) => key.state === "active" && !revoked(key))
    .sort((a, b) => activation(a).getTime() - activation(b).getTime() || a.createdAt.localeCompare(b.createdAt));
  const started = signers.filter((key) => activation(key) <= at);
  // With no key started yet (a first key created a moment ago by an instance whose clock runs
  // ahead), the earliest one signs rather than nothing.
  const signing = started.at(-1) ?? signers[0];
  const keepAfterReplacedMs = (policy.maxSignedTokenTtlSeconds + policy.marginSeconds) * 1000;

  const timeline: KeyTimeline[] = keys.map((key) => {
    if (revoked(key)) return { key, status: "revoked" };
    if (key.state === "published") return { key, status: "published" };
    const activatesAt = activation(key);
    if (key === signing) return { key, status: "signing", activatesAt };
    if (activatesAt > at) return { key, status: "next", activatesAt };
    // Replaced by the first key that started signing after it.
    const successor = signers[signers.indexOf(key) + 1]!;
    const retiresAt = new Date(activation(successor).getTime() + keepAfterReplacedMs);
    return { key, status: at < retiresAt ? "retiring" : "retired", activatesAt, retiresAt };
  });

  const order: KeyStatus[] = ["signing", "next", "retiring", "published"];
  const published = timeline
    .filter((entry) => order.includes(entry.status))
    .sort((a, b) => order.indexOf(a.status) - order.indexOf(b.status))
    .map((entry) => entry.key);
  return { timeline, signing, published };
}

/** When the next change of the schedule happens after `at` (a key starts signing or retires). */
export function nextChange(schedule: KeySchedule, at: Date): Date | undefined {
  const moments = schedule.timeline
    .flatMap((entry) => [entry.activatesAt, entry.retiresAt, entry.key.revokedAt ? new Date(entry.key.revokedAt) : undefined])
    .filter((moment): moment is Date => moment !== undefined && moment > at);
  return moments.sort((a, b) => a.getTime() - b.getTime())[0];
}
