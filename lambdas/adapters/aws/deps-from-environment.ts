/** Builds a Lambda invocation's adapters (AWS clients, Novala client) from its configuration. */
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { SchedulerClient } from "@aws-sdk/client-scheduler";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { NovalaClientConfig, RevocationConfig, RotationConfig } from "../../core/config.js";
import type { RotationDeps } from "../../core/context.js";
import { ConfigurationError } from "../../core/errors.js";
import type { KeyApi, RevocationScheduler, RotationEvents, Telemetry } from "../../core/ports.js";
import { systemClock } from "../../core/ports.js";
import type { DueRevocationDeps } from "../../core/revocation-usage.js";
import { createNovalaKeyApi } from "../novala/key-api.js";
import { pacerFromEnvironment } from "../novala/rate-budget.js";
import { AwsRevocationScheduler } from "./revocation-scheduler.js";
import { EventBridgeRotationEvents } from "./rotation-events.js";
import { SecretTagRotationOutcomes } from "./rotation-outcomes.js";
import { AwsSecretStore } from "./secret-store.js";

/**
 * Builds the real adapters for a Lambda invocation. Clients are made once per execution environment and reused across
 * invocations (connection reuse); they are rebuilt only when the configuration they depend on changes, which in
 * practice happens only in tests that point the same process at different endpoints.
 */
let cached:
  | { fingerprint: string; secrets: SecretsManagerClient; scheduler: SchedulerClient; events: EventBridgeClient }
  | undefined;
let cachedKeys: { fingerprint: string; keys: KeyApi } | undefined;

function awsClients() {
  const env = process.env;
  const fingerprint = [
    env.AWS_REGION,
    env.AWS_ENDPOINT_URL,
    env.AWS_ENDPOINT_URL_SECRETS_MANAGER,
    env.AWS_ENDPOINT_URL_SCHEDULER,
    env.AWS_ENDPOINT_URL_EVENTBRIDGE,
  ].join("|");
  if (cached?.fingerprint !== fingerprint) {
    cached = {
      fingerprint,
      secrets: new SecretsManagerClient({}),
      scheduler: new SchedulerClient({}),
      events: new EventBridgeClient({}),
    };
  }
  return cached;
}

function keyApi(config: NovalaClientConfig): KeyApi {
  const pacer = pacerFromEnvironment();
  const fingerprint = JSON.stringify({ ...config, allowedHosts: config.allowedHosts.spec, rate: pacer?.ratePerSecond });
  if (cachedKeys?.fingerprint !== fingerprint) {
    cachedKeys = { fingerprint, keys: createNovalaKeyApi(config, pacer ? { pacer } : {}) };
  }
  return cachedKeys.keys;
}

export function rotationDepsFromEnvironment(config: RotationConfig, telemetry: Telemetry): RotationDeps {
  return rotationDepsWith(config, telemetry, awsClients(), keyApi(config));
}

/**
 * The rotation's adapters over given clients: the Lambda's own (above), or the command line's when it runs the steps
 * on the operator's machine (`novala-rotation rotate --run-steps`), so both wire the ports alike.
 */
export function rotationDepsWith(
  config: RotationConfig,
  telemetry: Telemetry,
  clients: { secrets: SecretsManagerClient; scheduler: SchedulerClient; events: EventBridgeClient },
  keys: KeyApi,
): RotationDeps {
  const scheduler: RevocationScheduler = config.revocation
    ? new AwsRevocationScheduler(clients.scheduler, config.revocation)
    : {
        ensureScheduled: () =>
          Promise.reject(new ConfigurationError("no revocation schedule is configured (grace period 0)")),
        // No schedule group configured (grace 0): no schedule is ever made; a retired key is revoked in finishSecret.
        isScheduled: async () => false,
      };
  return {
    store: new AwsSecretStore(clients.secrets),
    keys,
    scheduler,
    events: rotationEventsOn(clients.events, config.eventBus),
    telemetry,
    clock: systemClock,
    config,
  };
}

/** The events port on `eventBus`; with no bus configured (a local run, a test) nothing is published. */
export function rotationEventsOn(client: EventBridgeClient, eventBus: string | undefined): RotationEvents {
  return eventBus
    ? new EventBridgeRotationEvents(client, eventBus)
    : { keyRotated: async () => {}, rotationRolledBack: async () => {}, keyRevocationPostponed: async () => {} };
}

/** Where the rotation function records each step's outcome: tags on the secret. */
export function rotationOutcomesFromEnvironment(): SecretTagRotationOutcomes {
  return new SecretTagRotationOutcomes(awsClients().secrets);
}

/** The overdue check only describes secrets. */
export function overdueCheckDepsFromEnvironment(telemetry: Telemetry) {
  return { store: new AwsSecretStore(awsClients().secrets), telemetry, clock: systemClock };
}

/** The revocation function's adapters: it reads, revokes, and reschedules itself when a consumer needs the key. */
export function revocationDepsFromEnvironment(config: RevocationConfig, telemetry: Telemetry): DueRevocationDeps {
  const clients = awsClients();
  return {
    store: new AwsSecretStore(clients.secrets),
    keys: keyApi(config),
    scheduler: new AwsRevocationScheduler(clients.scheduler, config.revocation),
    events: rotationEventsOn(clients.events, config.eventBus),
    telemetry,
    clock: systemClock,
    config,
  };
}
