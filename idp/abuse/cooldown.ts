// Resend cooldowns: at most one mail of a purpose (a reset link, later a code) per person per
// period, counted in the shared RateLimitStore so every instance sees the same cooldown.
import type { RateLimitStore } from "../store/rate-limits.ts";

/** The cooldown between two mails of one purpose to one email. */
export const RESEND_COOLDOWN_SECONDS = 60;

export function createCooldown(store: RateLimitStore) {
  return {
    /**
     * Starts the cooldown of `purpose` for `subject` unless one is running: true when it started
     * (send), false while an earlier one runs (send nothing). Atomic across instances.
     */
    async begin(purpose: string, subject: string, seconds = RESEND_COOLDOWN_SECONDS): Promise<boolean> {
      const { count } = await store.hit(`cooldown:${purpose}:${subject}`, seconds);
      return count === 1;
    },

    /** Ends the cooldown at once: the request that started it failed, so nothing was sent. */
    async cancel(purpose: string, subject: string): Promise<void> {
      await store.clear([`cooldown:${purpose}:${subject}`]);
    },
  };
}

export type Cooldown = ReturnType<typeof createCooldown>;
