import { errorMessage } from "../lambdas/core/errors.js";
import { AWSCURRENT, AWSPREVIOUS } from "../lambdas/core/ports.js";
import { keyClaimOf } from "../lambdas/core/possession.js";
import { describeSecret } from "./aws.js";
import { confirmOrRefuse } from "./confirm.js";
import { findDeployment } from "./deployment.js";
import { CliError, EXIT } from "./errors.js";
import { type RetiredKeyRevocation, revokeRetiredKeyNow } from "./retired-key.js";
import { type CommonOptions, type Session, withSession } from "./session.js";

/**
 * `revoke <secret-id>`: revokes a retired key of the secret now, by default the one AWSPREVIOUS holds, or the one
 * --key-id names (an unlabelled version's), through the revocation function's own rule (cli/retired-key.ts), then
 * removes its pending revocation schedules. Asks first (or --yes). Exit 0 when the key is revoked or already was,
 * 1 when the rule refuses it or Novala could not revoke it.
 */
export interface RevokeOptions extends CommonOptions {
  keyId?: string;
  yes?: boolean;
  scheduleGroup?: string;
}

/** What `revoke` did: the text and the --json document are both made from it. */
export interface RevokeReport {
  secretId: string;
  arn: string;
  keyId: string;
  /** The label of the version that holds the key when it was chosen by default (AWSPREVIOUS); null with --key-id. */
  heldAs: string | null;
  /** The key consumers that re-read AWSCURRENT use. */
  currentKeyId: string | null;
  scheduleGroup: string | null;
  outcome: RetiredKeyRevocation["outcome"];
  reason?: string;
  schedulesRemoved: string[];
  schedulesLeft: { schedule: string; reason: string }[];
}

export function revoke(secretId: string, options: RevokeOptions): Promise<number> {
  return withSession(options, (session) => run(session, secretId, options));
}

async function run(session: Session, secretId: string, options: RevokeOptions): Promise<number> {
  const described = await describeSecret(session.aws, secretId);
  const arn = described.ARN as string;
  const name = described.Name as string;
  const currentKeyId = keyClaimOf((await session.aws.store.getValue(arn, { stage: AWSCURRENT }))?.value)?.keyId;
  let keyId = options.keyId;
  if (keyId === undefined) {
    const previous = await session.aws.store.getValue(arn, { stage: AWSPREVIOUS });
    keyId = keyClaimOf(previous?.value)?.keyId;
    if (!keyId) {
      throw new CliError(
        `secret ${name} has ${previous ? "an AWSPREVIOUS version that names no key" : "no AWSPREVIOUS version"}: ` +
          "name the retired key with --key-id",
      );
    }
  }
  // The schedules to remove are in the group the rotation function names; without one, the key is still revoked.
  let scheduleGroup: string | undefined;
  try {
    scheduleGroup = (await findDeployment(session.aws, described, options)).scheduleGroup;
  } catch (error) {
    session.out.warn(`its revocation schedules will not be looked for: ${errorMessage(error)}`);
  }

  await confirmOrRefuse(
    {
      action: `revoke key ${keyId} of ${name} at Novala now`,
      consequences: [
        `consumers still using ${keyId} get 401 from Novala from then on`,
        `consumers that read AWSCURRENT${currentKeyId ? ` (key ${currentKeyId})` : ""} are not affected`,
      ],
    },
    options.yes,
  );

  const revocation = await revokeRetiredKeyNow(session, arn, keyId, scheduleGroup);
  const report: RevokeReport = {
    secretId,
    arn,
    keyId,
    heldAs: options.keyId === undefined ? AWSPREVIOUS : null,
    currentKeyId: currentKeyId ?? null,
    scheduleGroup: scheduleGroup ?? null,
    outcome: revocation.outcome,
    ...("reason" in revocation && { reason: revocation.reason }),
    schedulesRemoved: "schedulesRemoved" in revocation ? revocation.schedulesRemoved : [],
    schedulesLeft: "schedulesLeft" in revocation ? revocation.schedulesLeft : [],
  };
  return render(session, name, report);
}

function render(session: Session, name: string, report: RevokeReport): number {
  const { out } = session;
  const c = out.color;
  out.data(report);
  const { keyId } = report;
  const which = report.heldAs ? `key ${keyId} (${report.heldAs})` : `key ${keyId}`;
  if (report.outcome === "refused" || report.outcome === "failed") {
    const what = report.outcome === "refused" ? "the revocation rule refused it" : "Novala could not revoke it";
    throw new CliError(`${which} of ${name} was not revoked (${what}): ${report.reason}`);
  }
  out.line(
    report.outcome === "revoked"
      ? `${c.green("Revoked")} ${which} of ${name} at Novala.`
      : `${which} of ${name} was already revoked (or is unknown) at Novala: nothing to do.`,
  );
  for (const schedule of report.schedulesRemoved) {
    out.line(`  removed schedule ${report.scheduleGroup}/${schedule}, which would have revoked it later`);
  }
  if (report.schedulesRemoved.length === 0 && report.scheduleGroup) {
    out.line(`  no revocation schedule for it was pending in group ${report.scheduleGroup}`);
  }
  for (const left of report.schedulesLeft) {
    out.warn(`could not remove ${left.schedule} (${left.reason}): when it fires it finds the key revoked`);
  }
  if (report.currentKeyId) out.line(`  AWSCURRENT holds key ${report.currentKeyId}, untouched`);
  return EXIT.ok;
}
