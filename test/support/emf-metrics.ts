import { vi } from "vitest";

/**
 * Runs `run` (a handler invocation in this process) and collects the EMF metric lines the Powertools telemetry writes
 * to stdout while it runs, parsed; and what it threw, if anything, instead of throwing it.
 */
export async function emfMetricsOf(
  run: () => Promise<unknown>,
): Promise<{ error: unknown; emf: Record<string, unknown>[] }> {
  const written: string[] = [];
  const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
    written.push(String(chunk));
    return true;
  });
  let error: unknown;
  try {
    await run();
  } catch (caught) {
    error = caught;
  } finally {
    spy.mockRestore();
  }
  const emf = written
    .flatMap((chunk) => chunk.split("\n"))
    .filter((line) => line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { error, emf };
}
