import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { SecretsManagerModel, SecretsManagerModelError } from "./secrets-manager-model.js";

/**
 * An HTTP face for the embedded Secrets Manager model, speaking the AWS JSON 1.1 protocol (`POST /`,
 * `X-Amz-Target: secretsmanager.<Operation>`, errors as HTTP 400 with `__type`), so that the real
 * SecretsManagerClient — and so the AWS adapter and the CLI — can talk to it at `endpoint: url`. Requests are not
 * signature-checked. Fault injection lets tests see what rotation does when an answer is an error or never arrives.
 */

/**
 * - `internal-error`: HTTP 500 InternalServiceError, nothing applied.
 * - `throttling`: HTTP 400 ThrottlingException, nothing applied.
 * - `lose-answer`: the operation is applied, then the connection is destroyed before any answer.
 */
export type FaultKind = "internal-error" | "throttling" | "lose-answer";

export interface SecretsManagerServer {
  url: string;
  model: SecretsManagerModel;
  /** Makes the next `times` calls of `operation` (for example "PutSecretValue") fail as `kind`. */
  injectFault(operation: string, kind: FaultKind, times?: number): void;
  clearFaults(): void;
  /** How many requests named `operation` arrived (faulted ones included). */
  calls(operation: string): number;
  /** How many requests of `operation` a fault was applied to. */
  faultsApplied(operation: string): number;
  stop(): Promise<void>;
}

type Handler = (model: SecretsManagerModel, input: Record<string, unknown>) => unknown;

/** The input type of a model operation; wrongShape() has checked the types of the fields the model reads. */
type In<K extends keyof SecretsManagerModel> = SecretsManagerModel[K] extends (input: infer I) => unknown ? I : never;

const OPERATIONS: Record<string, Handler> = {
  CreateSecret: (model, input) => model.createSecret(input as In<"createSecret">),
  PutSecretValue: (model, input) => model.putSecretValue(input as In<"putSecretValue">),
  GetSecretValue: (model, input) => model.getSecretValue(input as In<"getSecretValue">),
  DescribeSecret: (model, input) => model.describeSecret(input as In<"describeSecret">),
  ListSecretVersionIds: (model, input) => model.listSecretVersionIds(input as In<"listSecretVersionIds">),
  UpdateSecretVersionStage: (model, input) => model.updateSecretVersionStage(input as In<"updateSecretVersionStage">),
  RotateSecret: (model, input) => model.rotateSecret(input as In<"rotateSecret">),
  CancelRotateSecret: (model, input) => model.cancelRotateSecret(input as In<"cancelRotateSecret">),
  TagResource: (model, input) => model.tagResource(input as In<"tagResource">),
  UntagResource: (model, input) => model.untagResource(input as In<"untagResource">),
};

const MAX_BODY_BYTES = 1_048_576;

export async function startSecretsManagerServer(
  model: SecretsManagerModel = new SecretsManagerModel(),
  options: {
    port?: number;
    /** Milliseconds added before every answer (benchmarks: the round trip of a real Secrets Manager). Default 0. */
    latencyMs?: number;
  } = {},
): Promise<SecretsManagerServer> {
  const latencyMs = options.latencyMs ?? 0;
  const faults = new Map<string, { kind: FaultKind; remaining: number }>();
  const callCounts = new Map<string, number>();
  const faultCounts = new Map<string, number>();
  const bump = (counts: Map<string, number>, operation: string) =>
    counts.set(operation, (counts.get(operation) ?? 0) + 1);

  const server = createServer((request, response) => {
    handle(request, response).catch(() => {
      if (!response.headersSent) send(response, 500, { __type: "InternalServiceError", message: "internal error" });
      else response.destroy();
    });
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = await readBody(request);
    if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));
    const target = String(request.headers["x-amz-target"] ?? "");
    const operation = target.startsWith("secretsmanager.") ? target.slice("secretsmanager.".length) : "";
    const handler = OPERATIONS[operation];
    if (request.method !== "POST" || !handler) {
      return send(response, 400, {
        __type: "UnknownOperationException",
        message: `The embedded Secrets Manager model does not implement "${target}".`,
      });
    }
    bump(callCounts, operation);
    const fault = faults.get(operation);
    const injected = fault && fault.remaining > 0 ? fault.kind : undefined;
    if (fault && injected) {
      fault.remaining -= 1;
      bump(faultCounts, operation);
    }
    if (injected === "internal-error") {
      return send(response, 500, { __type: "InternalServiceError", message: "Injected fault: internal error." });
    }
    if (injected === "throttling") {
      return send(response, 400, { __type: "ThrottlingException", message: "Injected fault: rate exceeded." });
    }
    let input: Record<string, unknown>;
    try {
      const parsed: unknown = body.length === 0 ? {} : JSON.parse(body);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not an object");
      input = parsed as Record<string, unknown>;
    } catch {
      return send(response, 400, {
        __type: "SerializationException",
        message: "The request body is not a JSON object.",
      });
    }
    const shapeError = wrongShape(input);
    if (shapeError) return send(response, 400, { __type: "InvalidParameterException", message: shapeError });
    let output: unknown;
    try {
      output = handler(model, input);
    } catch (error) {
      if (!(error instanceof SecretsManagerModelError)) throw error;
      if (injected === "lose-answer") return void response.socket?.destroy();
      return send(response, 400, { __type: error.name, message: error.message });
    }
    // Applied, but the caller never hears of it: the connection drops before any answer.
    if (injected === "lose-answer") return void response.socket?.destroy();
    send(response, 200, toWire(output));
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    model,
    injectFault(operation, kind, times = 1) {
      if (!OPERATIONS[operation]) throw new Error(`unknown operation ${operation}`);
      faults.set(operation, { kind, remaining: times });
    },
    clearFaults() {
      faults.clear();
    },
    calls: (operation) => callCounts.get(operation) ?? 0,
    faultsApplied: (operation) => faultCounts.get(operation) ?? 0,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

const STRING_FIELDS = [
  "SecretId",
  "Name",
  "Description",
  "SecretString",
  "ClientRequestToken",
  "VersionId",
  "VersionStage",
  "MoveToVersionId",
  "RemoveFromVersionId",
  "RotationLambdaARN",
];

/** The wire gives untyped JSON: fields the model reads must have their documented types. */
function wrongShape(input: Record<string, unknown>): string | undefined {
  for (const field of STRING_FIELDS) {
    if (input[field] !== undefined && typeof input[field] !== "string") return `${field} must be a string.`;
  }
  for (const field of ["RotateImmediately", "IncludeDeprecated"]) {
    if (input[field] !== undefined && typeof input[field] !== "boolean") return `${field} must be a boolean.`;
  }
  const stages = input.VersionStages;
  if (stages !== undefined && !(Array.isArray(stages) && stages.every((stage) => typeof stage === "string"))) {
    return "VersionStages must be a list of strings.";
  }
  const keys = input.TagKeys;
  if (keys !== undefined && !(Array.isArray(keys) && keys.every((key) => typeof key === "string"))) {
    return "TagKeys must be a list of strings.";
  }
  const tags = input.Tags;
  const isTag = (tag: unknown) =>
    typeof tag === "object" &&
    tag !== null &&
    typeof (tag as { Key?: unknown }).Key === "string" &&
    ["string", "undefined"].includes(typeof (tag as { Value?: unknown }).Value);
  if (tags !== undefined && !(Array.isArray(tags) && tags.every(isTag))) {
    return "Tags must be a list of {Key, Value} strings.";
  }
  const rules = input.RotationRules as Record<string, unknown> | undefined;
  if (rules !== undefined) {
    if (typeof rules !== "object" || rules === null || Array.isArray(rules)) return "RotationRules must be an object.";
    if (rules.AutomaticallyAfterDays !== undefined && typeof rules.AutomaticallyAfterDays !== "number") {
      return "RotationRules.AutomaticallyAfterDays must be a number.";
    }
    for (const field of ["ScheduleExpression", "Duration"]) {
      if (rules[field] !== undefined && typeof rules[field] !== "string")
        return `RotationRules.${field} must be a string.`;
    }
  }
  return undefined;
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error("request body too large"));
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    request.on("error", reject);
  });
}

function send(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    "content-type": "application/x-amz-json-1.1",
    "content-length": Buffer.byteLength(text),
    "x-amzn-requestid": randomUUID(),
  });
  response.end(text);
}

/** The JSON protocol's shapes: Date → epoch seconds; undefined fields dropped. */
function toWire(value: unknown): unknown {
  if (value instanceof Date) return value.getTime() / 1000;
  if (Array.isArray(value)) return value.map(toWire);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, field]) => field !== undefined)
        .map(([key, field]) => [key, toWire(field)]),
    );
  }
  return value;
}
