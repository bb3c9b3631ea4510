import { describe, expect, it } from "vitest";
import { parseRevocationRequest } from "../../lambdas/contract/revocation-request.js";

/** The message parseRevocationRequest refuses `event` with, or "accepted". */
function refusal(event: unknown): string {
  try {
    parseRevocationRequest(event);
  } catch (error) {
    return (error as Error).message;
  }
  return "accepted";
}

describe("the revocation event", () => {
  const request = {
    secretId: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:novala/acme-AbCdEf",
    keyId: "key_abc123",
    rotationToken: "0b7c2f5e-7d0e-4a8e-9d52-3c1a2b4c5d6e",
    versionId: "0b7c2f5e-7d0e-4a8e-9d52-3c1a2b4c5d6e",
    revokeAfter: "2026-12-01T00:00:00.000Z",
  };

  it("accepts the schedule's Input, as an object or as its JSON text", () => {
    expect(parseRevocationRequest(request)).toEqual(request);
    expect(parseRevocationRequest(JSON.stringify(request))).toEqual(request);
    expect(parseRevocationRequest({ secretId: request.secretId, keyId: request.keyId })).toEqual({
      secretId: request.secretId,
      keyId: request.keyId,
    });
  });

  it("accepts a postponement's fields: the rotator's last use, the count, and what status shows", () => {
    const postponed = {
      ...request,
      rotatorUsedAt: "2026-11-28T17:00:01.000Z",
      postponements: 3,
      lastUsedAt: "2026-11-28T17:30:00Z",
      hardLimitAt: "2026-12-04T17:00:00.000Z",
    };
    expect(parseRevocationRequest(postponed)).toEqual(postponed);
    expect(parseRevocationRequest({ ...request, postponements: 0 }).postponements).toBe(0);
    // What status shows is never a reason to refuse (nor trusted): a value that is not a string is dropped.
    expect(parseRevocationRequest({ ...request, lastUsedAt: 5, hardLimitAt: {} })).toEqual(request);
  });

  it("refuses a watermark that is not an ISO 8601 UTC time, and a count that is not a whole number in range", () => {
    for (const rotatorUsedAt of ["yesterday", "2026-11-28", "2026-11-28T17:00:00+01:00", "2026-13-40T99:00:00Z", 1]) {
      expect(refusal({ ...request, rotatorUsedAt }), String(rotatorUsedAt)).toBe(
        'revocation event field "rotatorUsedAt" is not an ISO 8601 UTC time',
      );
    }
    for (const postponements of [-1, 1.5, "3", 100_000, null]) {
      expect(refusal({ ...request, postponements }), String(postponements)).toBe(
        'revocation event field "postponements" is not a whole number from 0 to 99999',
      );
    }
  });

  it("drops a log-only field that is not a string instead of refusing the event", () => {
    expect(parseRevocationRequest({ ...request, rotationToken: 7 }).rotationToken).toBeUndefined();
  });

  it("refuses what is not a JSON object", () => {
    for (const event of [null, 42, "not json", "[1]", ["key_abc"]])
      expect(() => parseRevocationRequest(event), JSON.stringify(event)).toThrow(
        "revocation event must be a JSON object with secretId and keyId",
      );
  });

  it("names the field that is wrong, without echoing its value", () => {
    expect(refusal({ keyId: request.keyId })).toBe('revocation event field "secretId" is missing or not a string');
    expect(refusal({ secretId: request.secretId, keyId: "" })).toBe(
      'revocation event field "keyId" is missing or not a string',
    );
    expect(refusal({ secretId: request.secretId, keyId: 5 })).toBe(
      'revocation event field "keyId" is missing or not a string',
    );
    expect(refusal({ secretId: request.secretId, keyId: "key_x/../../leads" })).toBe(
      'revocation event field "keyId" is not a Novala key id ("key_" and letters or digits)',
    );
    expect(refusal({ ...request, versionId: "../../../etc" })).toBe(
      'revocation event field "versionId" is not a Secrets Manager version id',
    );
    expect(refusal({ ...request, versionId: 12 })).toBe(
      'revocation event field "versionId" is not a Secrets Manager version id',
    );
  });
});
