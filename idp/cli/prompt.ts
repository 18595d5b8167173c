// Reads a secret for the CLI: from a pipe when stdin is not a terminal, else from a prompt that
// does not echo. Secrets never come from argv, where other users and shell history can see them.
import { createInterface } from "node:readline";

export async function readSecretFromStdin(stdin: NodeJS.ReadStream = process.stdin): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
}

function promptHidden(question: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    const output = rl as unknown as { _writeToOutput(text: string): void; output: NodeJS.WritableStream };
    output._writeToOutput = (text: string) => {
      // Echo the question and the final newline, never the typed characters.
      if (text.startsWith(question) || text === "\r\n" || text === "\n") process.stderr.write(text);
    };
    rl.question(question, (answer) => {
      rl.close();
      process.stderr.write("\n");
      resolve(answer);
    });
  });
}

export async function readNewPassword(): Promise<string> {
  if (!process.stdin.isTTY) return readSecretFromStdin();
  const first = await promptHidden("Password: ");
  const second = await promptHidden("Repeat password: ");
  if (first !== second) throw new Error("the passwords do not match");
  return first;
}

/** A secret that is not a password (an upstream's client secret): piped, or typed once at a prompt. */
export async function readSecret(question: string): Promise<string> {
  if (!process.stdin.isTTY) return readSecretFromStdin();
  return promptHidden(question);
}
