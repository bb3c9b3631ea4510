/** The daily overdue check's event (a scheduled rule's input to the rotation function): its schema and its type. */
import * as z from "zod/mini";
import { OVERDUE_CHECK } from "./environment.js";
import { InvalidEventError } from "./errors.js";

/** `{"check": "rotation-overdue", "secretIds": [...]}`, as the construct's daily rule sends it. */
export const overdueCheckSchema = z.object({
  check: z.literal(OVERDUE_CHECK),
  /** The secrets to check, by ARN or name. */
  secretIds: z.array(z.string()),
});

/** An overdue check's event, as checked. */
export type OverdueCheckRequest = z.infer<typeof overdueCheckSchema>;

/** Whether an invocation's event asks for the overdue check (by its `check` field), well-formed or not. */
export function isOverdueCheck(event: unknown): event is { check: typeof OVERDUE_CHECK } {
  return (event as { check?: unknown } | null)?.check === OVERDUE_CHECK;
}

/** Validates an overdue check's event; InvalidEventError names the field that is wrong. */
export function parseOverdueCheck(event: unknown): OverdueCheckRequest {
  const result = overdueCheckSchema.safeParse(event);
  if (result.success) return result.data;
  throw new InvalidEventError('overdue check field "secretIds" must be a list of secret ids');
}
