/** The event Secrets Manager sends the rotation function: its schema, and its type by inference. */
import * as z from "zod/mini";

/** The four steps, in the order Secrets Manager runs them. */
export const ROTATION_STEPS = ["createSecret", "setSecret", "testSecret", "finishSecret"] as const;
/** One of the four steps. */
export type RotationStep = (typeof ROTATION_STEPS)[number];

const present = z.string().check(z.minLength(1));

/** `{Step, SecretId, ClientRequestToken, RotationToken?}`, exactly as Secrets Manager sends it. */
export const rotationEventSchema = z.object({
  Step: z.enum(ROTATION_STEPS),
  SecretId: present,
  ClientRequestToken: present,
  RotationToken: z.optional(z.string()),
});

/** An event of Secrets Manager's, as checked. */
export type RotationEvent = z.infer<typeof rotationEventSchema>;

/** Checks an invocation's event; the error names the first field that is wrong. */
export function parseRotationEvent(event: unknown): { event: RotationEvent } | { problem: string } {
  if (typeof event !== "object" || event === null) return { problem: "rotation event must be an object" };
  const result = rotationEventSchema.safeParse(event);
  if (result.success) return { event: result.data };
  const field = String(result.error.issues[0]?.path[0] ?? "");
  return {
    problem:
      field === "Step"
        ? `rotation event field "Step" must be one of ${ROTATION_STEPS.join(", ")}`
        : `rotation event field "${field}" is missing or not a string`,
  };
}
