/**
 * `reconcile --revoke` with a partial view of a shared tenant (issue 9, item 8), as a real `novala-rotation` process
 * against moto and the Novala simulator. One tenant serves secrets in two regions; the operator's run sees only
 * us-east-1. A key tagged for the eu-west-1 secret looks stranded from here (no secret here holds it, no schedule
 * here revokes it); revoking it would cut off that region's consumers. reconcile must revoke only keys whose tag
 * proves they came from an abandoned (unlabelled) version of a secret it read, leave alone keys still in use, and say
 * what it left alone and why.
 */
import { randomUUID } from "node:crypto";
import {
  CreateSecretCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { replacementKeyName } from "../../lambdas/core/key-name.js";
import type { CreatedNovalaKey } from "../../lambdas/core/ports.js";
import { secretValueFor } from "../../lambdas/core/secret-value.js";
import { type NovalaSimulator, startNovalaSimulator } from "../../local/novala-simulator.js";
import { type Moto, motoSuiteTitle, secretsManagerClientFor, skipMoto, startMoto } from "../support/moto.js";
import { type CliRun, expectNoKeyMaterial, runCli } from "../support/run-cli.js";
import { unwrapTables } from "../support/table.js";

const BASE_NAME = "Acumatica Integration";
const LONG_AGO = "2026-01-01T00:00:00Z";

describe.skipIf(skipMoto)(motoSuiteTitle("reconcile --revoke on a tenant it sees only part of"), () => {
  let moto: Moto;
  let novala: NovalaSimulator;
  let here: SecretsManagerClient;
  let elsewhere: SecretsManagerClient;
  let managerArn: string;
  const keys: Record<string, CreatedNovalaKey> = {};

  async function createSecret(client: SecretsManagerClient, name: string, value: string): Promise<string> {
    return (await client.send(new CreateSecretCommand({ Name: name, SecretString: value }))).ARN as string;
  }

  /** A version that a rotation made and then lost (abandoned, or superseded by the next rotation): no labels. */
  async function abandonedVersion(client: SecretsManagerClient, secretArn: string, value: string): Promise<string> {
    const versionId = await stagedVersion(client, secretArn, value, "AWSPENDING");
    await client.send(
      new UpdateSecretVersionStageCommand({
        SecretId: secretArn,
        VersionStage: "AWSPENDING",
        RemoveFromVersionId: versionId,
      }),
    );
    return versionId;
  }

  async function stagedVersion(
    client: SecretsManagerClient,
    secretArn: string,
    value: string,
    stage: string,
  ): Promise<string> {
    const versionId = randomUUID();
    await client.send(
      new PutSecretValueCommand({
        SecretId: secretArn,
        ClientRequestToken: versionId,
        SecretString: value,
        VersionStages: [stage],
      }),
    );
    return versionId;
  }

  function reconcile(...args: string[]): Promise<CliRun> {
    // No rotation function is registered here: the schedule group is named, as an operator would without one.
    return runCli(
      ["reconcile", "--manager-secret", "novala/manager", "--schedule-group", "novala-revocations", ...args],
      {
        endpoint: moto.endpoint,
      },
    );
  }

  function statuses(): Record<string, string | undefined> {
    return Object.fromEntries(Object.entries(keys).map(([role, key]) => [role, novala.model.inspect(key.id)?.status]));
  }

  beforeAll(async () => {
    moto = await startMoto();
    novala = await startNovalaSimulator();
    here = secretsManagerClientFor(moto.endpoint);
    elsewhere = secretsManagerClientFor(moto.endpoint, { region: "eu-west-1" });
    const model = novala.model;

    keys.manager = model.seedKey({ name: "Rotation manager", scopes: ["api_keys.manage"] });
    managerArn = await createSecret(here, "novala/manager", secretValueFor(novala.url, keys.manager));
    keys.consumer = model.seedKey({ name: BASE_NAME, scopes: ["leads.lead.read"] });
    const consumerValue = secretValueFor(novala.url, keys.consumer, { managerSecretId: managerArn });
    const consumerArn = await createSecret(here, "novala/acumatica", consumerValue);
    // The same tenant, the same secret name, another region: this run cannot see it.
    keys.remoteCurrent = model.seedKey({ name: BASE_NAME, scopes: ["leads.lead.read"] });
    const remoteValue = secretValueFor(novala.url, keys.remoteCurrent);
    const remoteArn = await createSecret(elsewhere, "novala/acumatica", remoteValue);

    const abandoned = await abandonedVersion(here, consumerArn, consumerValue);
    const remoteAbandoned = await abandonedVersion(elsewhere, remoteArn, remoteValue);
    const inFlight = await stagedVersion(here, consumerArn, consumerValue, "AWSPENDING");
    const tagged = (secretArn: string, versionId: string) => ({
      name: replacementKeyName(BASE_NAME, secretArn, versionId),
      scopes: ["leads.lead.read"],
      createdAt: LONG_AGO,
    });
    // A replacement the abandoned rotation made and never stored: ours, unused, to revoke.
    keys.stranded = model.seedKey(tagged(consumerArn, abandoned));
    // The same, but a consumer picked it up and used it just now: left alone within the grace.
    keys.inUse = model.seedKey(tagged(consumerArn, abandoned));
    model.self(keys.inUse.secretKey);
    // A leftover of the other region's abandoned rotation: not attributable from here.
    keys.remoteLeftover = model.seedKey(tagged(remoteArn, remoteAbandoned));
    // A key of the rotation still in flight here: AWSPENDING names its version, the rotation itself cleans up.
    keys.inFlight = model.seedKey(tagged(consumerArn, inFlight));
  });

  afterAll(async () => {
    here?.destroy();
    elsewhere?.destroy();
    await novala?.stop();
    await moto?.stop();
  });

  it("dry run: lists the attributable key as stranded and says which keys it leaves alone and why", async () => {
    const run = await reconcile();
    expectNoKeyMaterial(run, novala.model.issuedKeyMaterial());
    expect(run.code).toBe(0);
    // The reasons are long: the table wraps them to the width; read each row whole.
    const printed = unwrapTables(run.stdout);
    expect(printed).toMatch(new RegExp(`│ ${keys.stranded?.id} │ .*│ would revoke │`));
    expect(printed).toContain("3 unheld key(s) left alone");
    expect(printed).toMatch(new RegExp(`│ ${keys.remoteLeftover?.id} │ .*│ not ours / not attributable`));
    expect(printed).toMatch(new RegExp(`│ ${keys.inUse?.id} │ .*within the grace \\(7 d\\)`));
    expect(printed).toMatch(
      new RegExp(`│ ${keys.inFlight?.id} │ .*novala/acumatica \\(version .*AWSPENDING\\) is not over`),
    );
    expect(Object.values(statuses())).toEqual(Object.values(keys).map(() => "active"));
  });

  it("--revoke revokes only the key its tag proves is an abandoned version's, never another region's", async () => {
    const run = await reconcile("--revoke", "--json");
    expectNoKeyMaterial(run, novala.model.issuedKeyMaterial());
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.stranded).toEqual([expect.objectContaining({ keyId: keys.stranded?.id, action: "revoked" })]);
    expect(report.leftAlone).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          keyId: keys.remoteLeftover?.id,
          reason: expect.stringContaining("not attributable"),
        }),
        expect.objectContaining({ keyId: keys.inUse?.id, reason: expect.stringContaining("within the grace") }),
        expect.objectContaining({ keyId: keys.inFlight?.id, reason: expect.stringContaining("is not over") }),
      ]),
    );
    expect(statuses()).toEqual({
      manager: "active",
      consumer: "active",
      remoteCurrent: "active",
      stranded: "revoked",
      inUse: "active",
      remoteLeftover: "active",
      inFlight: "active",
    });
  });

  it("--grace 0s also revokes the used key of the abandoned version, and still not the other region's", async () => {
    const run = await reconcile("--revoke", "--grace", "0s", "--json");
    expectNoKeyMaterial(run, novala.model.issuedKeyMaterial());
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).stranded).toEqual([
      expect.objectContaining({ keyId: keys.inUse?.id, action: "revoked" }),
    ]);
    expect(statuses()).toMatchObject({ inUse: "revoked", remoteLeftover: "active", inFlight: "active" });
  });
});
