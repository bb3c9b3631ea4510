import { describe, expect, it } from "vitest";
import { parseRotationEvent } from "../../lambdas/contract/rotation-event.js";

describe("the rotation event", () => {
  const event = { Step: "createSecret", SecretId: "arn:secret", ClientRequestToken: "token-1" };

  it("accepts Secrets Manager's event", () => {
    expect(parseRotationEvent(event)).toEqual({ event });
    expect(parseRotationEvent({ ...event, RotationToken: "r" })).toEqual({ event: { ...event, RotationToken: "r" } });
  });

  it("names what is wrong", () => {
    expect(parseRotationEvent(null)).toEqual({ problem: "rotation event must be an object" });
    expect(parseRotationEvent({ ...event, Step: "dropSecret" })).toEqual({
      problem: 'rotation event field "Step" must be one of createSecret, setSecret, testSecret, finishSecret',
    });
    expect(parseRotationEvent({ ...event, SecretId: "" })).toEqual({
      problem: 'rotation event field "SecretId" is missing or not a string',
    });
    expect(parseRotationEvent({ Step: "setSecret", SecretId: "arn:secret" })).toEqual({
      problem: 'rotation event field "ClientRequestToken" is missing or not a string',
    });
  });
});
