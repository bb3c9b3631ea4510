/** The fake account, region and ARNs every test uses: moto, the in-memory world and the deployed-bundle checks. */
export const TEST_REGION = "us-east-1";
export const TEST_ACCOUNT_ID = "123456789012";
export const TEST_SCHEDULE_GROUP = "novala-revocations";
export const TEST_REVOCATION_FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:novala-revocation";
export const TEST_SCHEDULER_ROLE_ARN = "arn:aws:iam::123456789012:role/novala-scheduler";
export const TEST_DEAD_LETTER_QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:novala-revocation-dlq";
/** The account's default bus. */
export const TEST_EVENT_BUS_ARN = "arn:aws:events:us-east-1:123456789012:event-bus/default";
/** The stack the test deployments belong to: CloudFormation's own tag on its functions names it. */
export const TEST_STACK_ID =
  "arn:aws:cloudformation:us-east-1:123456789012:stack/novala-test/0f4a2b30-0000-4000-8000-000000000001";
