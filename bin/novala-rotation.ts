/**
 * The `novala-rotation` command line: see, steer and repair rotations of Novala keys held in Secrets Manager.
 * Commander defines the commands here; each command's implementation lives in cli/ and is loaded when the
 * command runs, so `--help` and a typo answer at once.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { durationOption } from "../cli/duration.js";
import { CliError, EXIT } from "../cli/errors.js";
import { action, runProgram } from "../cli/program.js";
import { DEFAULT_ALLOWED_HOSTS } from "../lambdas/contract/allowed-hosts.js";
import { ENV, MAX_GRACE_SECONDS } from "../lambdas/contract/environment.js";
import { scheduleProblem } from "../lambdas/contract/schedule.js";
// Inlined into the built CLI by esbuild: the version of the package it was built from.
import packageJson from "../package.json" with { type: "json" };

const MAX_GRACE_MS = MAX_GRACE_SECONDS * 1000;

/** A command that talks to AWS; its AWS options are added last (addAwsOptions), so they close its --help. */
function awsCommand(name: string): Command {
  return new Command(name).showHelpAfterError("(add --help for usage)");
}

function addAwsOptions(command: Command): Command {
  return command
    .option(
      "--profile <name>",
      "AWS shared-config profile: its region, credentials and endpoint_url (as the AWS CLI's)",
    )
    .option("--region <region>", "AWS region (default: AWS_REGION or the profile's region)")
    .option("--endpoint-url <url>", "a Secrets Manager and Scheduler endpoint instead of AWS (moto, for example)")
    .addOption(
      new Option(
        "--stack <name>",
        "the CloudFormation stack of the deployment: act only through a rotation function it deployed",
      ).env("NOVALA_ROTATION_STACK"),
    )
    .option("--debug", "show stack traces and the rotation core's log lines")
    .hook("preAction", async (_command, action) => {
      const { profile } = action.opts<{ profile?: string }>();
      if (profile !== undefined) await (await import("../cli/profile.js")).useProfile(profile);
    });
}

function scheduleGroupOption(): Option {
  return new Option(
    "--schedule-group <name>",
    "EventBridge Scheduler group of the revocation schedules (default: the one the secret's rotation function names)",
  ).env(ENV.scheduleGroup);
}

function jsonOption(): Option {
  return new Option("--json", "print one JSON document instead of text");
}

/** --schedule, checked by the construct's own validator (lambdas/contract/schedule.ts) before anything is sent. */
function scheduleOption(raw: string): string {
  const problem = scheduleProblem(raw);
  if (problem) throw new InvalidArgumentError(problem);
  return raw.trim();
}

function positiveInteger(raw: string): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError(`expected a whole number of at least 1, got "${raw}"`);
  }
  return value;
}

function wholeNumber(raw: string): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value)) {
    throw new InvalidArgumentError(`expected a whole number (0 or more), got "${raw}"`);
  }
  return value;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** --prefix, --tag, --all and --concurrency: the selection of `status`, `rotate` and `leak` (cli/selection.ts). */
function addSelectionOptions(
  command: Command,
  verb: string,
  help: { all?: string; concurrency?: string } = {},
): Command {
  return command
    .option("--prefix <name-prefix>", `${verb} every secret whose name starts with this`)
    .addOption(
      new Option("--tag <key=value>", `${verb} every secret with this tag (repeatable: all of them)`).argParser(
        collect,
      ),
    )
    .option("--all", help.all ?? `${verb} every secret that has a rotation function (the --lambda-arn one, if given)`)
    .addOption(
      new Option(
        "--concurrency <n>",
        help.concurrency ??
          "with a selection: at most this many at a time (default: the rotation function's ROTATION_CONCURRENCY, else 10)",
      ).argParser(positiveInteger),
    );
}

function runStepsOption(): Option {
  return new Option(
    "--run-steps",
    "run the rotation steps on this machine (for an endpoint that cannot run Lambda code, such as moto)",
  );
}

function followTimeoutOption(description = "stop following after this long (exit 3)"): Option {
  return new Option("--timeout <duration>", description)
    .argParser(durationOption(1000, 86_400_000))
    .default(900_000, "15m");
}

function followIntervalOption(): Option {
  return new Option("--interval <duration>", "how often to look")
    .argParser(durationOption(100, 60_000))
    .default(1000, "1s");
}

function yesOption(): Option {
  return new Option("--yes", "do not ask for confirmation (needed when there is no terminal to ask on)");
}

export function buildProgram(): Command {
  const program = new Command("novala-rotation")
    .description("See and steer rotations of Novala API keys held in AWS Secrets Manager.")
    .version(packageJson.version, "-V, --version", "the version of the package (novala-key-rotation)")
    .showHelpAfterError("(add --help for usage)")
    .configureHelp({ sortSubcommands: false, showGlobalOptions: false })
    .addHelpText(
      "after",
      `\nNovala URLs must be on ${ENV.allowedHosts} (default ${DEFAULT_ALLOWED_HOSTS}), as for the Lambdas.\n` +
        "The schedule group, revocation function and grace period come from the secret's rotation function.\n" +
        "Exit codes: 0 ok, 1 failed or refused, 2 bad usage (or no --yes without a terminal), 3 rotate --timeout reached,\n" +
        "4 status: not healthy (a fleet: any secret), 5 status: the verdict is incomplete (Novala could not be asked in\n" +
        "time, or a fleet's secret could not be read); status exits 0 with warnings only.",
    );

  program.addCommand(
    addSelectionOptions(
      awsCommand("status")
        .description(
          "the verdict on a secret's rotation, then its versions and labels, key metadata, rotation schedule and " +
            "scheduled revocations; with --prefix, --tag or --all one row per secret, worst first",
        )
        .argument("[secret-id]", "the secret's name or ARN (or select many with --prefix, --tag or --all)"),
      "show",
      {
        all: "show every secret that has a rotation function",
        concurrency: "with a selection: read at most this many secrets at a time (default: 10)",
      },
    )
      .option(
        "--check",
        "also ask Novala about the keys (active or revoked, last used); a fleet: each current and previous key",
      )
      .addOption(
        new Option(
          "--check-timeout <duration>",
          "give up asking Novala after this long for a secret (exit 5); a fleet gives each secret this long",
        )
          .argParser(durationOption(500, 300_000))
          .default(10_000, "10s"),
      )
      .addOption(scheduleGroupOption())
      .addOption(jsonOption())
      .action(
        action(async (secretId: string | undefined, options: import("../cli/fleet-status.js").FleetStatusOptions) => {
          const { isMassSelection, selectionUsageProblem } = await import("../cli/selection.js");
          const problem =
            selectionUsageProblem(secretId, options) ??
            (!isMassSelection(options) && options.concurrency !== undefined
              ? "--concurrency applies to a selection (--prefix, --tag, --all), not to one secret"
              : undefined);
          if (problem) throw new CliError(problem, EXIT.usage);
          if (isMassSelection(options)) return (await import("../cli/fleet-status.js")).fleetStatus(options);
          return (await import("../cli/status.js")).status(secretId as string, options);
        }),
      ),
  );

  program.addCommand(
    awsCommand("put-key")
      .description("onboard a key pair: read it (stdin or a hidden prompt), introspect it at Novala, store it")
      .argument("<secret-id>", "the secret's name or ARN")
      .option("--base-url <url>", "the tenant's Novala URL (default: the one the secret already holds)")
      .option("--manager-secret <id>", "the secret holding the manager key that rotates this one (managerSecretId)")
      .option(
        "--self-managed",
        "the secret rotates itself: drop managerSecretId (a key with api_keys.manage goes only into the deployment's manager secret or a secret named so)",
      )
      .option(
        "--lambda-arn <arn>",
        "the rotation function whose deployment names the manager secret (default: the one configured on the secret)",
      )
      .option("--wait", "wait for Novala to accept a pair that is too new to work yet (see --wait-timeout)")
      .addOption(
        new Option("--wait-timeout <duration>", "with --wait: give up after this long")
          .argParser(durationOption(1000, 3_600_000))
          .default(120_000, "2m"),
      )
      .option("--create", "create the secret when it does not exist")
      .option("--description <text>", "the description of a secret made with --create")
      .option("--kms-key-id <id>", "the KMS key of a secret made with --create")
      .option("--force", "replace a key that still works")
      .addOption(jsonOption())
      .addHelpText(
        "after",
        "\nThe key pair is read from standard input when it is not a terminal (the publishable and the secret key,\n" +
          'separated by white space, or a JSON object {"publishableKey": …, "secretKey": …}); otherwise from a\n' +
          "prompt that does not echo. Only their last four characters are ever shown.",
      )
      .action(
        action(async (secretId: string, options: import("../cli/put-key.js").PutKeyOptions) => {
          const { putKey } = await import("../cli/put-key.js");
          return putKey(secretId, options);
        }),
      ),
  );

  program.addCommand(
    addSelectionOptions(
      awsCommand("rotate")
        .description("start a rotation (RotateSecret) and follow it until AWSCURRENT moves or it fails")
        .argument("[secret-id]", "the secret's name or ARN (or select many with --prefix, --tag or --all)"),
      "rotate",
    )
      .addOption(
        new Option(
          "--skip-rotated-within <duration>",
          "with a selection: skip a secret rotated successfully within this long (default: 1h; 0s: none)",
        ).argParser(durationOption(0, 365 * 86_400_000)),
      )
      .addOption(
        new Option(
          "--stop-after-failures <n>",
          "with a selection: stop starting rotations after this many failures in a row (default 3; 0: never); Novala unreachable stops at once",
        ).argParser(wholeNumber),
      )
      .option(
        "--dry-run",
        "with a selection: list what it would rotate, follow, skip or refuse, and why; start nothing",
      )
      .option("--no-wait", "return once the rotation has started")
      .option("--skip-check", "start without first checking that the current key (and its manager key) works at Novala")
      .addOption(runStepsOption())
      .option("--lambda-arn <arn>", "the rotation function (default: the one configured on the secret)")
      .option(
        "--schedule <expression>",
        'also set the rotation schedule: "rate(30 days)", "rate(12 hours)" or "cron(0 3 ? * SUN *)"',
        scheduleOption,
      )
      .addOption(followTimeoutOption())
      .addOption(followIntervalOption())
      .addOption(scheduleGroupOption())
      .addOption(jsonOption())
      .action(
        action(async (secretId: string | undefined, options: import("../cli/mass-rotate.js").MassRotateOptions) => {
          const [{ massRotate, massUsageProblem }, { isMassSelection }] = await Promise.all([
            import("../cli/mass-rotate.js"),
            import("../cli/selection.js"),
          ]);
          const problem = massUsageProblem(secretId, options);
          if (problem) throw new CliError(problem, EXIT.usage);
          if (isMassSelection(options)) return massRotate(options);
          const { rotate } = await import("../cli/rotate.js");
          return rotate(secretId as string, options);
        }),
      ),
  );

  program.addCommand(
    addSelectionOptions(
      awsCommand("leak")
        .description(
          "a key leaked: rotate now and revoke the old key as soon as the new one is promoted (no grace period)",
        )
        .argument("[secret-id]", "the secret's name or ARN (or select many with --prefix, --tag or --all)"),
      "rotate and revoke the old key of",
    )
      .addOption(runStepsOption())
      .option("--lambda-arn <arn>", "the rotation function (default: the one configured on the secret)")
      .addOption(followTimeoutOption("stop following a rotation after this long (its old key is then not revoked)"))
      .addOption(followIntervalOption())
      .addOption(yesOption())
      .addOption(scheduleGroupOption())
      .addOption(jsonOption())
      .addHelpText(
        "after",
        "\nConsumers still holding an old key get 401 as soon as the new key is promoted; keys retired by earlier\n" +
          "rotations and still in their grace period are revoked too. It never skips a secret that rotated recently.\n" +
          'The runbook: docs/operations.md, "A key leaked".',
      )
      .action(
        action(async (secretId: string | undefined, options: import("../cli/leak.js").LeakOptions) => {
          const [{ leak }, { selectionUsageProblem }] = await Promise.all([
            import("../cli/leak.js"),
            import("../cli/selection.js"),
          ]);
          const problem = selectionUsageProblem(secretId, options);
          if (problem) throw new CliError(problem, EXIT.usage);
          return leak(secretId, options);
        }),
      ),
  );

  program.addCommand(
    awsCommand("revoke")
      .description(
        "revoke a retired key of a secret now (default: AWSPREVIOUS's), proven as the revocation function proves it",
      )
      .argument("<secret-id>", "the secret's name or ARN")
      .option("--key-id <key-id>", "another retired key (one an unlabelled version holds), key_…")
      .addOption(yesOption())
      .addOption(scheduleGroupOption())
      .addOption(jsonOption())
      .addHelpText(
        "after",
        "\nNever AWSCURRENT's or AWSPENDING's key, never the manager key: those are refused (exit 1).",
      )
      .action(
        action(async (secretId: string, options: import("../cli/revoke.js").RevokeOptions) => {
          const { revoke } = await import("../cli/revoke.js");
          return revoke(secretId, options);
        }),
      ),
  );

  program.addCommand(
    addSelectionOptions(
      awsCommand("revoke-due")
        .description(
          "run a secret's due (or overdue) revocations now, as the revocation function runs them when their schedule fires",
        )
        .argument("[secret-id]", "the secret's name or ARN (or select many with --prefix, --tag or --all)"),
      "run the due revocations of",
    )
      .option("--lambda-arn <arn>", "the rotation function (default: the one configured on the secret)")
      .addOption(scheduleGroupOption())
      .addOption(jsonOption())
      .addHelpText(
        "after",
        "\nA schedule whose time has come runs through the revocation function's rule (proven; while a consumer still\n" +
          "uses the key it is postponed: a new schedule, up to the hard limit), and is then removed, as Scheduler removes\n" +
          "a schedule once it has fired. AWSPREVIOUS's key whose schedule was lost (the dead-letter alarm: Scheduler gave\n" +
          "up and deleted it) is run when due, or its schedule is put back. Nothing is revoked before its time: `revoke`\n" +
          "does that. For endpoints whose Scheduler never fires (moto) and the dead-letter runbook (docs/operations.md).",
      )
      .action(
        action(async (secretId: string | undefined, options: import("../cli/revoke-due.js").RevokeDueOptions) => {
          const [{ revokeDue }, { selectionUsageProblem }] = await Promise.all([
            import("../cli/revoke-due.js"),
            import("../cli/selection.js"),
          ]);
          const problem = selectionUsageProblem(secretId, options);
          if (problem) throw new CliError(problem, EXIT.usage);
          return revokeDue(secretId, options);
        }),
      ),
  );

  program.addCommand(
    addSelectionOptions(
      awsCommand("abort")
        .description(
          "end a stuck or failed rotation: revoke the keys minted for it (proven), remove AWSPENDING; AWSCURRENT stays",
        )
        .argument("[secret-id]", "the secret's name or ARN (or select many with --prefix, --tag or --all)"),
      "end the stuck rotations of",
    )
      .option("--token <version-id>", "the rotation to end (default: the version that is AWSPENDING)")
      .option("--force", "also end a rotation that looks in progress (a step may still be running)")
      .addOption(
        new Option("--timeout <duration>", "give Novala this long in all for each secret's keys")
          .argParser(durationOption(1000, 600_000))
          .default(20_000, "20s"),
      )
      .addOption(jsonOption())
      .addHelpText(
        "after",
        "\nWith a selection, secrets with no rotation in progress are left alone and counted; progress goes to stderr.\n" +
          "When to wait and when to abort: docs/operations.md.",
      )
      .action(
        action(async (secretId: string | undefined, options: import("../cli/abort.js").AbortOptions) => {
          const { abort, abortUsageProblem } = await import("../cli/abort.js");
          const problem = abortUsageProblem(secretId, options);
          if (problem) throw new CliError(problem, EXIT.usage);
          return abort(secretId, options);
        }),
      ),
  );

  program.addCommand(
    awsCommand("rollback")
      .description("move AWSCURRENT back to AWSPREVIOUS when the previous key is still active, retire the other")
      .argument("<secret-id>", "the secret's name or ARN")
      .option(
        "--grace <duration>",
        "revoke the key rolled away from after this long (default: the deployment's grace period)",
        durationOption(1000, MAX_GRACE_MS),
      )
      .addOption(
        new Option("--revoke-now", "revoke the key rolled away from at once (asks first, or --yes)").conflicts("grace"),
      )
      .addOption(yesOption())
      .option(
        "--revocation-function-arn <arn>",
        `target of the revocation schedule (default: the rotation function's ${ENV.revocationFunctionArn})`,
      )
      .option(
        "--scheduler-role-arn <arn>",
        `role of the revocation schedule (default: the rotation function's ${ENV.schedulerRoleArn})`,
      )
      .addOption(scheduleGroupOption())
      .addOption(jsonOption())
      .addHelpText(
        "after",
        "\nConsumers that already moved to the newer key keep it until its revocation; `novala-rotation revoke`\n" +
          "revokes it earlier.",
      )
      .action(
        action(async (secretId: string, options: import("../cli/rollback.js").RollbackOptions) => {
          const { rollback } = await import("../cli/rollback.js");
          return rollback(secretId, options);
        }),
      ),
  );

  program.addCommand(
    awsCommand("reconcile")
      .description(
        "find (and with --revoke revoke) stranded keys: tagged by the rotator for an abandoned version of a secret it read, held by no secret, unscheduled, unused within --grace",
      )
      .requiredOption("--manager-secret <id>", "the secret holding the manager key (api_keys.manage) of the tenant")
      .addOption(new Option("--secret <id>", "a secret whose versions hold keys (repeatable)").argParser(collect))
      .option("--no-list-secrets", "consider only the --secret secrets, not every secret ListSecrets shows")
      .addOption(
        new Option("--min-age <duration>", "leave keys younger than this alone (a rotation may be storing one)")
          .argParser(durationOption(0, 365 * 86_400_000))
          .default(3_600_000, "1h"),
      )
      .addOption(
        // 7 days: the longest grace period a rotation gives a retired key, so no key still in its grace is revoked.
        new Option("--grace <duration>", "leave keys Novala saw used within this long alone (lastUsedAt)")
          .argParser(durationOption(0, 365 * 86_400_000))
          .default(7 * 86_400_000, "7d"),
      )
      .option("--revoke", "revoke the stranded keys (default: a dry run)")
      .addOption(scheduleGroupOption())
      .addOption(jsonOption())
      .action(
        action(async (options: import("../cli/reconcile.js").ReconcileOptions) => {
          const { reconcile } = await import("../cli/reconcile.js");
          return reconcile(options);
        }),
      ),
  );

  for (const command of program.commands) addAwsOptions(command);
  return program;
}

/** Runs the command line; `argv` is process.argv. Sets process.exitCode and exits once output is written. */
export async function main(argv: string[] = process.argv): Promise<void> {
  await runProgram(buildProgram(), argv);
}
