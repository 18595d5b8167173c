import { describe, expect, it } from "vitest";
import { smtpConnection } from "./transports.ts";

describe("the SMTP connection", () => {
  const connect = (smtpUrl: string, production: boolean) => smtpConnection({ smtpUrl, production });

  it("requires STARTTLS in production for a server off this machine, unless the URL says otherwise", () => {
    expect(connect("smtp://idp:secret@mail.example.com:587", true).requireTLS).toBe(true);
    expect(connect("smtp://idp:secret@mail.example.com:587?requireTLS=false", true).requireTLS).toBe(false);
    expect(connect("smtp://127.0.0.1:2525", true).requireTLS).toBeUndefined();
    expect(connect("smtps://idp:secret@mail.example.com:465", true)).toMatchObject({ secure: true });
  });

  it("uses STARTTLS when offered in development, and always when the URL asks", () => {
    expect(connect("smtp://mail.example.com:587", false).requireTLS).toBeUndefined();
    expect(connect("smtp://mail.example.com:587?requireTLS=true", false).requireTLS).toBe(true);
  });
});
