/** The RotationOutcomes port as tags on the rotated secret. */
import { type SecretsManagerClient, TagResourceCommand } from "@aws-sdk/client-secrets-manager";
import { outcomeTags, type RotationOutcome } from "../../contract/rotation-outcome.js";
import type { RotationOutcomes } from "../../core/ports.js";
import { storeError } from "./secret-store.js";

/** RotationOutcomes as two tags on the rotated secret (lambdas/contract/rotation-outcome.ts). */
export class SecretTagRotationOutcomes implements RotationOutcomes {
  constructor(private readonly client: SecretsManagerClient) {}

  async record(secretId: string, outcome: RotationOutcome): Promise<void> {
    try {
      await this.client.send(new TagResourceCommand({ SecretId: secretId, Tags: outcomeTags(outcome) }));
    } catch (error) {
      throw storeError("TagResource", secretId, error);
    }
  }
}
