/** `loudhailer doctor`: placeholder, being written. */
export async function runDoctor(_env: NodeJS.ProcessEnv, out: { write(line: string): void }): Promise<number> {
  out.write('doctor: not written yet');
  return 2;
}
