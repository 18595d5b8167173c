-- Phone numbers on users, and SMS through the same outbox as mail.
--
-- users.phone: E.164 (+4915112345678), as idp/sms/phone-numbers.ts normalises it, so one number
-- has one spelling and the unique index finds it; NULL when the person has none. phone_verified
-- says the person proved they receive SMS there (a code, or the operator's word); the `phone`
-- scope releases both. A number belongs to one person at most: it can sign in.
ALTER TABLE users
  ADD COLUMN phone text CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
  ADD COLUMN phone_verified boolean NOT NULL DEFAULT false;
CREATE UNIQUE INDEX users_phone_key ON users (phone) WHERE phone IS NOT NULL;

-- mail_outbox.channel: an SMS is queued, sealed, leased, retried and counted exactly like a mail
-- (idp/mail/outbox-worker.ts dispatches on the channel), so one worker and one table serve both.
-- For an SMS, recipient is the E.164 number and template an sms_* template.
ALTER TABLE mail_outbox
  ADD COLUMN channel text NOT NULL DEFAULT 'email' CHECK (channel IN ('email', 'sms')),
  ADD CONSTRAINT mail_outbox_sms_recipient_check CHECK (channel <> 'sms' OR recipient ~ '^\+[1-9][0-9]{6,14}$');
