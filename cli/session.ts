import type { NovalaHttpClientOptions } from "../lambdas/adapters/novala/http-client.js";
import { createNovalaKeyApi, type NovalaKeyApi } from "../lambdas/adapters/novala/key-api.js";
import { type NovalaClientConfig, readNovalaClientConfig } from "../lambdas/contract/configuration.js";
import { managerCredentials } from "../lambdas/core/context.js";
import { BaseUrlNotAllowedError, errorMessage } from "../lambdas/core/errors.js";
import type { Telemetry } from "../lambdas/core/ports.js";
import type { ManagerCredentials } from "../lambdas/core/possession.js";
import { lastFour } from "../lambdas/core/redact.js";
import { type KeyMetadata, keyMetadataOf, type ParsedKeySecret, parseKeySecret } from "../lambdas/core/secret-value.js";
import { type Aws, type AwsOptions, createAws, type LabelledVersion } from "./aws.js";
import { Output } from "./output.js";

/**
 * What one command invocation works with: the output, AWS clients, and (built on first use, since it reads
 * NOVALA_ALLOWED_HOSTS and the timeouts the same way the Lambdas do) the Novala key API.
 */
export interface CommonOptions extends AwsOptions {
  json?: boolean;
  debug?: boolean;
}

export class Session {
  readonly out: Output;
  readonly aws: Aws;
  private novalaConfig?: NovalaClientConfig;
  private keyApi?: NovalaKeyApi;
  private keyApiOptions: NovalaHttpClientOptions = {};
  private readonly boundedKeyApis = new Map<number, NovalaKeyApi>();

  constructor(readonly options: CommonOptions) {
    this.out = new Output(Boolean(options.json));
    this.aws = createAws(options);
  }

  /** The Novala client configuration, from the environment exactly as the Lambdas read it. */
  get config(): NovalaClientConfig {
    this.novalaConfig ??= readNovalaClientConfig(process.env);
    return this.novalaConfig;
  }

  get keys(): NovalaKeyApi {
    this.keyApi ??= createNovalaKeyApi(this.config, this.keyApiOptions);
    return this.keyApi;
  }

  /**
   * Caps every Novala wait of this session at `totalMs` (`status --check`): the connect and request timeouts and the
   * retry budget, rate-limited retries included, so no single call outlasts it. Call before the first Novala call.
   */
  limitNovala(totalMs: number): void {
    const base = this.config;
    this.novalaConfig = {
      ...base,
      connectTimeoutMs: Math.min(base.connectTimeoutMs, totalMs),
      requestTimeoutMs: Math.min(base.requestTimeoutMs, totalMs),
      retryBudgetMs: Math.min(base.retryBudgetMs, totalMs),
    };
    this.keyApiOptions = { rateLimitBudgetMs: 0 };
  }

  /**
   * A second key API whose every call gives up within `totalMs` in all (connect, request and retries; no waits for a
   * rate limit), for a check that must not hang on a dead Novala (rotate's pre-check, abort). The session's own
   * client keeps its budgets.
   */
  boundedKeys(totalMs: number): NovalaKeyApi {
    let keys = this.boundedKeyApis.get(totalMs);
    if (!keys) {
      const base = this.config;
      keys = createNovalaKeyApi(
        {
          ...base,
          connectTimeoutMs: Math.min(base.connectTimeoutMs, totalMs),
          requestTimeoutMs: Math.min(base.requestTimeoutMs, totalMs),
          retryBudgetMs: Math.min(base.retryBudgetMs, totalMs),
        },
        { rateLimitBudgetMs: 0 },
      );
      this.boundedKeyApis.set(totalMs, keys);
    }
    return keys;
  }

  /** A Telemetry that shows the core's log lines only with --debug (a command that reports the outcome itself). */
  get debugTelemetry(): Telemetry {
    const shown = quietTelemetry(this);
    const debug = this.options.debug === true;
    return {
      ...shown,
      warn: (message, fields) => debug && shown.warn(message, fields),
      error: (message, fields) => debug && shown.error(message, fields),
    };
  }

  /** What lambdas/core's readKeySecret, managerCredentials and revokeRetiredKey need. */
  get deps() {
    return { store: this.aws.store, keys: this.keys, config: this.config, telemetry: quietTelemetry(this) };
  }

  /** The credentials that may read and revoke the keys of `secret` (the manager key, or its own when self-managed). */
  managerCredentials(secretArn: string, secret: ParsedKeySecret): Promise<ManagerCredentials> {
    return managerCredentials(this.deps, secretArn, secret);
  }

  async close(): Promise<void> {
    this.aws.destroy();
    await this.keyApi?.close();
    for (const keys of this.boundedKeyApis.values()) await keys.close();
  }
}

/** Runs `body` with a Session and closes it whatever happens. */
export async function withSession(options: CommonOptions, body: (session: Session) => Promise<number>) {
  const session = new Session(options);
  try {
    return await body(session);
  } finally {
    await session.close();
  }
}

/** A Telemetry for the core functions the CLI calls: warnings and errors are shown, the rest only with --debug. */
function quietTelemetry(session: Session): Telemetry {
  const show = (level: string, message: string, fields?: Record<string, unknown>) => {
    const detail = fields ? ` ${JSON.stringify(fields)}` : "";
    // Output.warn already says "warning:"; other levels say theirs.
    session.out.warn(`${level === "warn" ? "" : `${level}: `}${message}${detail}`);
  };
  return {
    debug: (message, fields) => session.options.debug && show("debug", message, fields),
    info: (message, fields) => session.options.debug && show("info", message, fields),
    warn: (message, fields) => show("warn", message, fields),
    error: (message, fields) => show("error", message, fields),
    metric: () => {},
  };
}

/** One labelled version with what its value says. `parsed` (which holds the keys) is for calls, never for output. */
export interface VersionRead extends LabelledVersion {
  meta: KeyMetadata;
  /** The value validated by parseKeySecret, when it passes. */
  parsed?: ParsedKeySecret;
  /** Why the value does not pass validation, or could not be read (the message never echoes the value). */
  problem?: string;
  /** The value passes every check but this machine's NOVALA_ALLOWED_HOSTS (BaseUrlNotAllowedError). */
  hostNotAllowed?: boolean;
  /** The value could not be read at all (an AWS error, not the value's fault): `problem` says why. */
  unreadable?: boolean;
}

/** Reads the value of each labelled version (always naming a stage, as the Lambdas do) and validates it. */
export async function readVersions(
  session: Session,
  secretArn: string,
  secretName: string,
  versions: LabelledVersion[],
): Promise<VersionRead[]> {
  const reads: VersionRead[] = [];
  for (const version of versions) {
    const stage = version.stages[0] ?? "AWSCURRENT";
    try {
      const stored = await session.aws.store.getValue(secretArn, { stage, versionId: version.versionId });
      if (!stored) {
        reads.push({ ...version, meta: {}, problem: "no value yet" });
        continue;
      }
      const meta = keyMetadataOf(stored.value);
      try {
        const parsed = parseKeySecret(stored.value, `secret ${secretName} ${stage}`, session.config.allowedHosts);
        reads.push({ ...version, meta, parsed });
      } catch (error) {
        const hostNotAllowed = error instanceof BaseUrlNotAllowedError;
        reads.push({ ...version, meta, problem: errorMessage(error), ...(hostNotAllowed && { hostNotAllowed }) });
      }
    } catch (error) {
      reads.push({ ...version, meta: {}, problem: errorMessage(error), unreadable: true });
    }
  }
  return reads;
}

/** "pk_live_…abcd": the prefix and the last four characters, which put-key may echo. */
export function maskedKey(key: string): string {
  const prefix = key.match(/^(pk|sk)_(live|test)_/)?.[0] ?? "";
  return `${prefix}${lastFour(key)}`;
}
