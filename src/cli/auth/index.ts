/** `loudhailer auth <network>`: placeholder, being written. */
export async function runAuth(_network: string | undefined, _env: NodeJS.ProcessEnv, io: { out: { write(line: string): void }; input: NodeJS.ReadableStream }): Promise<number> {
  io.out.write('auth: not written yet');
  return 2;
}
