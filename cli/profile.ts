import { loadSharedConfigFiles } from "@smithy/core/config";
import { CliError, EXIT } from "./errors.js";

/**
 * `--profile`, as the AWS CLI's: everything from that profile of the shared config files (region, credentials and
 * `endpoint_url`, or its `services` section), ahead of the environment's static keys; AWS_REGION and
 * AWS_ENDPOINT_URL still win, and --region and --endpoint-url over them. The SDK's `profile` client option reaches the
 * region and the credentials but not the endpoint, so the profile is set as AWS_PROFILE, which every loader reads.
 * The environment's AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY would otherwise make the SDK print a warning about two
 * sources of credentials (and a later SDK may prefer them): they are set aside for this process. A profile that is in
 * neither file is refused (the SDK would only say "Region is missing"). Run before any client is made.
 */
export async function useProfile(profile: string): Promise<void> {
  const { configFile, credentialsFile } = await loadSharedConfigFiles();
  if (!(profile in configFile) && !(profile in credentialsFile)) {
    throw new CliError(
      `--profile ${profile}: no such profile in ${process.env.AWS_CONFIG_FILE ?? "~/.aws/config"} or ` +
        `${process.env.AWS_SHARED_CREDENTIALS_FILE ?? "~/.aws/credentials"} (aws configure list-profiles lists them)`,
      EXIT.usage,
    );
  }
  process.env.AWS_PROFILE = profile;
  for (const name of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]) delete process.env[name];
}
