// The people code_sign_in signs in: one address gets at most one code a minute (the resend
// cooldown; a request within it sends nothing; and totp_sign_in's, whose codes work once per 30 s), so each operation takes the address used longest
// ago, and one used less than COOLDOWN_MS ago never. When all are that recent, a new person is
// made on the spot (and the run says so: made beforehand, they would cost the operations nothing).
import { RESEND_COOLDOWN_SECONDS } from "../idp/abuse/cooldown.ts";
import { codeUserEmail } from "./fixtures.ts";

/** The cooldown and a margin (the IdP's clock and ours, the counter's window). */
const COOLDOWN_MS = (RESEND_COOLDOWN_SECONDS + 5) * 1000;

export class CodeUsers {
  /** Addresses in the order they were last used, oldest first. */
  private readonly queue: { email: string; usedAt: number }[] = [];
  private made = 0;
  private madeOnTheSpot = 0;
  private readonly create: (email: string) => Promise<void>;
  private readonly emailOf: (index: number) => string;

  private constructor(create: (email: string) => Promise<void>, emailOf: (index: number) => string) {
    this.create = create;
    this.emailOf = emailOf;
  }

  /** Makes `count` people (a few at a time) with `create`, which it also calls when it runs short. */
  static async make(count: number, create: (email: string) => Promise<void>, emailOf: (index: number) => string = codeUserEmail): Promise<CodeUsers> {
    const pool = new CodeUsers(create, emailOf);
    for (let start = 0; start < count; start += 50) {
      const batch = Array.from({ length: Math.min(50, count - start) }, () => pool.newEmail());
      await Promise.all(batch.map((email) => create(email)));
      for (const email of batch) pool.queue.push({ email, usedAt: 0 });
    }
    return pool;
  }

  private newEmail(): string {
    return this.emailOf(this.made++);
  }

  /** An address whose cooldown is over; it counts as used from now. */
  async take(): Promise<string> {
    const oldest = this.queue[0];
    let email: string;
    if (oldest && Date.now() - oldest.usedAt >= COOLDOWN_MS) {
      this.queue.shift();
      email = oldest.email;
    } else {
      email = this.newEmail();
      this.madeOnTheSpot++;
      await this.create(email);
    }
    this.queue.push({ email, usedAt: Date.now() });
    return email;
  }

  /** How many there are, and how many were made during the operations. */
  counts(): { people: number; madeOnTheSpot: number } {
    return { people: this.made, madeOnTheSpot: this.madeOnTheSpot };
  }
}
