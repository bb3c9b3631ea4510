/** The error every AWS adapter raises: the failed operation and the service's own name for the failure, as fields. */
import { RotationError } from "../../contract/errors.js";

export interface AwsFailure {
  /** The API operation that failed, e.g. "GetSecretValue". */
  operation: string;
  /** The service's exception name, e.g. "ResourceNotFoundException"; undefined for a failure that names none. */
  awsErrorName?: string;
  /** The HTTP status of the service's answer, when there was one. */
  httpStatusCode?: number;
}

/**
 * An AWS call failed. Carries no `cause` and nothing of the SDK's error but its name, message and status: the SDK
 * attaches the raw response (`$response`), which for GetSecretValue can hold the secret's value.
 */
export class AwsServiceError extends RotationError {
  override name = "AwsServiceError";
  readonly operation: string;
  readonly awsErrorName: string | undefined;
  readonly httpStatusCode: number | undefined;

  constructor(failure: AwsFailure, message: string) {
    super(message);
    this.operation = failure.operation;
    this.awsErrorName = failure.awsErrorName;
    this.httpStatusCode = failure.httpStatusCode;
  }

  /** Whether the service answered with the exception `awsErrorName`. */
  is(awsErrorName: string): boolean {
    return this.awsErrorName === awsErrorName;
  }
}

/**
 * What an AWS failure reports: the SDK's (or an emulator's) exception name, status and message. The one place that
 * reads an SDK error's `name`; everything after it tests AwsServiceError's fields.
 */
export function awsFailure(operation: string, error: unknown): AwsFailure & { message: string } {
  const name = (error as { name?: unknown } | null)?.name;
  const httpStatusCode = (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
  return {
    operation,
    ...(typeof name === "string" && name !== "Error" && { awsErrorName: name }),
    ...(httpStatusCode !== undefined && { httpStatusCode }),
    message: error instanceof Error ? error.message : String(error),
  };
}

/** The message of a failed call: "GetSchedule group/name: ConflictException: message". */
export function awsFailureMessage(target: string, failure: AwsFailure & { message: string }): string {
  const named = failure.awsErrorName !== undefined ? `${failure.awsErrorName}: ` : "";
  return `${failure.operation} ${target}: ${named}${failure.message}`;
}

/** Any error of the AWS call `operation` on `target`, as an AwsServiceError (one already is stays as it is). */
export function awsServiceError(operation: string, target: string, error: unknown): AwsServiceError {
  if (error instanceof AwsServiceError) return error;
  const failure = awsFailure(operation, error);
  return new AwsServiceError(failure, awsFailureMessage(target, failure));
}
