import { describe, expect, it } from "vitest";
import { OVERDUE_CHECK } from "../../lambdas/contract/environment.js";
import { InvalidEventError } from "../../lambdas/contract/errors.js";
import { isOverdueCheck, parseOverdueCheck } from "../../lambdas/contract/overdue-check.js";

describe("the overdue check's event", () => {
  it("is told from a rotation step by its check field, and read as the construct's rule sends it", () => {
    const event = { check: OVERDUE_CHECK, secretIds: ["novala/acme", "arn:aws:secretsmanager:eu-west-1:1:secret:x"] };
    expect(isOverdueCheck(event)).toBe(true);
    expect(isOverdueCheck({ check: OVERDUE_CHECK })).toBe(true);
    expect(isOverdueCheck({ Step: "createSecret", SecretId: "x", ClientRequestToken: "t" })).toBe(false);
    expect(isOverdueCheck(null)).toBe(false);
    expect(parseOverdueCheck(event)).toEqual(event);
    expect(parseOverdueCheck({ ...event, extra: 1 })).toEqual(event);
  });

  it.each([
    ["no secretIds", { check: OVERDUE_CHECK }],
    ["secretIds that is not a list", { check: OVERDUE_CHECK, secretIds: "novala/acme" }],
    ["a secret id that is not a string", { check: OVERDUE_CHECK, secretIds: ["novala/acme", 7] }],
  ])("refuses an event with %s as an InvalidEventError that names the field", (_label, event) => {
    expect(() => parseOverdueCheck(event)).toThrow(InvalidEventError);
    expect(() => parseOverdueCheck(event)).toThrow('overdue check field "secretIds" must be a list of secret ids');
  });
});
