/** Builds a Lambda invocation's adapters (AWS clients, Novala client) from its configuration. */
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { SchedulerClient } from "@aws-sdk/client-scheduler";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import {
  type NovalaClientConfig,
  type RevocationConfig,
  type RotationConfig,
  readAwsSdkSettings,
} from "../../contract/configuration.js";
import { ConfigurationError } from "../../contract/errors.js";
import type { RotationDeps } from "../../core/context.js";
import type { KeyApi, ManagerSecretCache, RevocationScheduler, RotationEvents, Telemetry } from "../../core/ports.js";
import { systemClock } from "../../core/ports.js";
import type { DueRevocationDeps } from "../../core/revocation-usage.js";
import { createNovalaKeyApi } from "../novala/key-api.js";
import { environmentPacer } from "../novala/rate-budget.js";
import { TimedManagerSecretCache } from "./manager-cache.js";
import { overdueRuleSecretIds } from "./overdue-rule.js";
import { AwsRevocationScheduler } from "./revocation-scheduler.js";
import { EventBridgeRotationEvents } from "./rotation-events.js";
import { AwsSecretStore } from "./secret-store.js";

let cached:
  | {
      fingerprint: string;
      secrets: SecretsManagerClient;
      scheduler: SchedulerClient;
      events: EventBridgeClient;
      /** The manager secret's value, read once per window by the rotation function (TimedManagerSecretCache). */
      managerCache: ManagerSecretCache;
    }
  | undefined;
let cachedKeys: { fingerprint: string; keys: KeyApi } | undefined;
/**
 * The telemetry of the invocation in progress: the cached Novala client counts its rate-limit metrics there (an
 * execution environment runs one invocation at a time).
 */
let invocationTelemetry: Telemetry | undefined;
const rateMetrics: Pick<Telemetry, "metric"> = { metric: (...args) => invocationTelemetry?.metric(...args) };

/**
 * The AWS clients of this execution environment: made once and reused across invocations (connection reuse), made anew
 * only when the AWS SDK's variables change (readAwsSdkSettings), which in practice happens only in tests that point
 * the same process at different endpoints.
 */
function awsClients() {
  const fingerprint = JSON.stringify(readAwsSdkSettings(process.env));
  if (cached?.fingerprint !== fingerprint) {
    cached = {
      fingerprint,
      secrets: new SecretsManagerClient({}),
      scheduler: new SchedulerClient({}),
      events: new EventBridgeClient({}),
      managerCache: new TimedManagerSecretCache(),
    };
  }
  return cached;
}

/**
 * The Novala client of this execution environment for `config`, paced by its rate budget; kept like the clients. It
 * counts its rate-limit metrics on the telemetry of the invocation in progress.
 */
function keyApi(config: NovalaClientConfig, telemetry: Telemetry): KeyApi {
  invocationTelemetry = telemetry;
  const pacer = environmentPacer(config.rateBudget);
  const fingerprint = JSON.stringify({ ...config, allowedHosts: config.allowedHosts.spec });
  if (cachedKeys?.fingerprint !== fingerprint) {
    cachedKeys = { fingerprint, keys: createNovalaKeyApi(config, { metrics: rateMetrics, ...(pacer && { pacer }) }) };
  }
  return cachedKeys.keys;
}

/**
 * The rotation function's adapters for one invocation, over clients kept across invocations, and the environment's
 * manager secret cache: a manager-managed rotation reads its manager secret once per window, not once per step.
 */
export function rotationDepsFromEnvironment(config: RotationConfig, telemetry: Telemetry): RotationDeps {
  const clients = awsClients();
  return rotationDepsWith(config, telemetry, clients, keyApi(config, telemetry), clients.managerCache);
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
  managerCache?: ManagerSecretCache,
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
    ...(managerCache && { managerCache }),
  };
}

/** The events port on `eventBus`; with no bus configured (a local run, a test) nothing is published. */
export function rotationEventsOn(client: EventBridgeClient, eventBus: string | undefined): RotationEvents {
  return eventBus
    ? new EventBridgeRotationEvents(client, eventBus)
    : { keyRotated: async () => {}, rotationRolledBack: async () => {}, keyRevocationPostponed: async () => {} };
}

/** The overdue check only describes secrets. */
export function overdueCheckDepsFromEnvironment(telemetry: Telemetry) {
  return { store: new AwsSecretStore(awsClients().secrets), telemetry, clock: systemClock };
}

/** The deployment's secrets, from the overdue check's own rule (./overdue-rule.ts). */
export function overdueRuleSecretIdsFromEnvironment(ruleName: string, functionArn?: string): Promise<string[]> {
  return overdueRuleSecretIds(awsClients().events, ruleName, functionArn);
}

/** The revocation function's adapters: it reads, revokes, and reschedules itself when a consumer needs the key. */
export function revocationDepsFromEnvironment(config: RevocationConfig, telemetry: Telemetry): DueRevocationDeps {
  const clients = awsClients();
  return {
    store: new AwsSecretStore(clients.secrets),
    keys: keyApi(config, telemetry),
    scheduler: new AwsRevocationScheduler(clients.scheduler, config.revocation),
    events: rotationEventsOn(clients.events, config.eventBus),
    telemetry,
    clock: systemClock,
    config,
  };
}
