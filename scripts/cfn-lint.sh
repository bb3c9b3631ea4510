#!/usr/bin/env bash
# Lints the synthesized CloudFormation templates with cfn-lint. Synthesizes first (offline, with the cdk-nag checks)
# unless NO_SYNTH=1 says that cdk.out is fresh (for example right after `npm run synth` in .ci/run). `npm run synth`
# gives the app its context explicitly (package.json): the app refuses to synthesize without it.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cfn-lint >/dev/null || { echo "cfn-lint is missing: pip install cfn-lint" >&2; exit 1; }
if [ "${NO_SYNTH:-0}" != "1" ]; then
  npm run --silent synth >/dev/null
fi

shopt -s nullglob
templates=(cdk.out/*.template.json)
if [ ${#templates[@]} -eq 0 ]; then
  echo "no templates in cdk.out: run 'npx cdk synth' first" >&2
  exit 1
fi

# Ignored, each because CDK itself writes it, not this project:
#   W3005  "dependency already enforced by a GetAtt": aws-lambda's Function always adds a DependsOn on its execution
#          role (and the role's DefaultPolicy) so that the policy exists before the function can be invoked, even
#          though the Role property's GetAtt already orders the role itself.
cfn-lint --ignore-checks W3005 -- "${templates[@]}"
echo "cfn-lint: ${#templates[@]} template(s) clean"
