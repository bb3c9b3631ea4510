import { EventBridgeClient, PutRuleCommand, PutTargetsCommand } from "@aws-sdk/client-eventbridge";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventBridgeRotationEvents } from "../../lambdas/adapters/aws/rotation-events.js";
import { KEY_ROTATED, KEY_ROTATION_ROLLED_BACK, ROTATION_EVENT_SOURCE } from "../../lambdas/contract/environment.js";
import { HealthCheckFailedError } from "../../lambdas/core/errors.js";
import { runRotationStep } from "../../lambdas/core/rotation.js";
import {
  type Moto,
  motoQuery,
  motoSuiteTitle,
  skipMoto,
  startMoto,
  TEST_ACCOUNT_ID,
  TEST_CREDENTIALS,
  TEST_REGION,
} from "../support/moto.js";
import { createWorld, type World } from "../support/world.js";

/**
 * Key Rotated and Key Rotation Rolled Back: what the rotation publishes (in-memory adapter, through the core), and
 * that the EventBridge adapter's PutEvents reaches a consumer's rule on moto (an SQS target, read back).
 */

function expectNoKeyMaterial(world: World, text: string) {
  for (const material of world.novala.issuedKeyMaterial()) expect(text).not.toContain(material);
  expect(text).not.toMatch(/\b(pk|sk)_(live|test)_[A-Za-z0-9]{6,}/);
}

describe("events the rotation publishes", () => {
  it("a successful rotation publishes Key Rotated once, with the new and old key and version ids", async () => {
    const world = createWorld({ graceSeconds: 600 });
    const oldVersion = world.stageOf("AWSCURRENT");
    const token = await world.rotate();
    expect(world.events.published()).toEqual([
      {
        detailType: KEY_ROTATED,
        detail: {
          schemaVersion: 1,
          secretArn: world.secretArn,
          newKeyId: world.valueAt("AWSCURRENT")?.keyId,
          newVersionId: token,
          oldKeyId: world.firstKey.id,
          oldVersionId: oldVersion,
        },
      },
    ]);
    const [entry] = world.events.entries;
    expect(entry).toMatchObject({
      Source: ROTATION_EVENT_SOURCE,
      Resources: [world.secretArn],
      EventBusName: "default",
    });
    expectNoKeyMaterial(world, JSON.stringify(world.events.entries));
  });

  it("a retried finishSecret publishes again (at least once), for consumers that dedupe by newVersionId", async () => {
    const world = createWorld();
    const token = await world.rotate();
    await world.step("finishSecret", token);
    const published = world.events.published();
    expect(published).toHaveLength(2);
    expect(published[1]).toEqual(published[0]);
  });

  it("a health-check rollback publishes Key Rotation Rolled Back with the reason, AWSCURRENT untouched", async () => {
    const world = createWorld({ healthCheckDeadlineSeconds: 1 });
    world.novala.setPropagationDelayMs(3_600_000);
    const token = world.startRotation();
    await world.step("createSecret", token);
    const pendingKey = world.valueAt("AWSPENDING")?.keyId;
    await expect(world.step("testSecret", token)).rejects.toThrow(HealthCheckFailedError);
    expect(world.events.published()).toEqual([
      {
        detailType: KEY_ROTATION_ROLLED_BACK,
        detail: {
          schemaVersion: 1,
          secretArn: world.secretArn,
          currentKeyId: world.firstKey.id,
          currentVersionId: world.stageOf("AWSCURRENT"),
          rolledBackKeyId: pendingKey,
          rolledBackVersionId: token,
          reason: expect.stringMatching(/^health check failed: /),
        },
      },
    ]);
    expectNoKeyMaterial(world, JSON.stringify(world.events.entries));
  });

  it("a bus that refuses the event does not fail the rotation: it is logged and counted", async () => {
    const world = createWorld();
    world.events.failure = Object.assign(new Error("User is not authorized to perform: events:PutEvents"), {
      name: "AccessDeniedException",
    });
    const token = world.startRotation();
    for (const step of ["createSecret", "setSecret", "testSecret", "finishSecret"] as const) {
      await runRotationStep(world.deps, step, world.secretArn, token);
    }
    expect(world.stageOf("AWSCURRENT")).toBe(token);
    expect(world.novala.inspect(world.firstKey.id)?.status).toBe("revoked");
    expect(world.telemetry.count("RotationEventsFailed")).toBe(1);
    expect(world.telemetry.count("RotationsSucceeded")).toBe(1);
    expect(world.telemetry.lines).toContainEqual(
      expect.objectContaining({
        level: "warn",
        message: "could not publish the Key Rotated event; the rotation itself is not affected",
        fields: expect.objectContaining({ errorName: "AccessDeniedException" }),
      }),
    );
  });
});

describe.skipIf(skipMoto)(motoSuiteTitle("EventBridge adapter against moto"), () => {
  let moto: Moto;
  let client: EventBridgeClient;
  const queueName = "consumer-refresh";

  beforeAll(async () => {
    moto = await startMoto();
    client = new EventBridgeClient({ endpoint: moto.endpoint, region: TEST_REGION, credentials: TEST_CREDENTIALS });
    // A consumer's rule on the default bus: every event of the rotation, into its queue.
    const created = await motoQuery(moto.endpoint, "sqs", { Action: "CreateQueue", QueueName: queueName });
    expect(created.ok, created.text).toBe(true);
    await client.send(
      new PutRuleCommand({
        Name: "refresh-novala-key",
        EventPattern: JSON.stringify({ source: [ROTATION_EVENT_SOURCE] }),
      }),
    );
    await client.send(
      new PutTargetsCommand({
        Rule: "refresh-novala-key",
        Targets: [{ Id: "queue", Arn: `arn:aws:sqs:${TEST_REGION}:${TEST_ACCOUNT_ID}:${queueName}` }],
      }),
    );
  });

  afterAll(async () => {
    client?.destroy();
    await moto?.stop();
  });

  async function receivedEvents(): Promise<Record<string, unknown>[]> {
    const answer = await motoQuery(moto.endpoint, "sqs", {
      Action: "ReceiveMessage",
      QueueUrl: `${moto.endpoint}/${TEST_ACCOUNT_ID}/${queueName}`,
      MaxNumberOfMessages: "10",
    });
    const unescapeXml = (text: string) =>
      text
        .replace(/&quot;/g, '"')
        .replace(/&lt;/g, "<")
        .replace(/&gt;/g, ">")
        .replace(/&amp;/g, "&");
    return [...answer.text.matchAll(/<Body>([\s\S]*?)<\/Body>/g)].map((match) =>
      JSON.parse(unescapeXml(match[1] ?? "")),
    );
  }

  it("puts Key Rotated on the bus named by ARN, where a consumer's rule receives it", async () => {
    const secretArn = `arn:aws:secretsmanager:${TEST_REGION}:${TEST_ACCOUNT_ID}:secret:novala/acme-AbCdEf`;
    const bus = `arn:aws:events:${TEST_REGION}:${TEST_ACCOUNT_ID}:event-bus/default`;
    await new EventBridgeRotationEvents(client, bus).keyRotated({
      secretArn,
      newKeyId: "key_new",
      newVersionId: "v2",
      oldKeyId: "key_old",
      oldVersionId: "v1",
    });
    const events = await receivedEvents();
    expect(events).toEqual([
      expect.objectContaining({
        source: ROTATION_EVENT_SOURCE,
        "detail-type": KEY_ROTATED,
        resources: [secretArn],
        detail: {
          schemaVersion: 1,
          secretArn,
          newKeyId: "key_new",
          newVersionId: "v2",
          oldKeyId: "key_old",
          oldVersionId: "v1",
        },
      }),
    ]);
  });

  it("rejects with the service's reason when the bus does not exist", async () => {
    const publish = new EventBridgeRotationEvents(client, "no-such-bus").rotationRolledBack({
      secretArn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf",
      currentKeyId: "key_a",
      currentVersionId: "v1",
      rolledBackKeyId: "key_b",
      rolledBackVersionId: "v2",
      reason: "test",
    });
    await expect(publish).rejects.toThrow(/no-such-bus/);
  });
});
