/**
 * The construct's CloudWatch dashboard (issue 18, item 8): its graphs name only metrics the functions really publish.
 * "Really publishes" is read from the code, twice: the Telemetry port accepts only the contract's METRIC_NAMES, and
 * every one of those names is passed to a `metric("…")` call somewhere in lambdas/ (a name listed but never published
 * fails here too). No copy of the list lives in this test.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { App, Stack } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import { describe, expect, it } from "vitest";
import { METRICS_NAMESPACE, METRICS_SERVICE } from "../../lambdas/contract/environment.js";
import { METRIC_NAMES, type MetricName } from "../../lambdas/contract/metrics.js";
import { NovalaKeyRotation, type NovalaKeyRotationProps } from "../../lib/index.js";

const LAMBDAS = fileURLToPath(new URL("../../lambdas", import.meta.url));

function synthesize(extra: Partial<NovalaKeyRotationProps> = {}) {
  const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
  const stack = new Stack(app, "DashboardStack", { env: { account: "111122223333", region: "eu-west-1" } });
  const rotation = new NovalaKeyRotation(stack, "Rotation", {
    secrets: [secretsmanager.Secret.fromSecretNameV2(stack, "Secret", "novala/acme")],
    ...extra,
  });
  return { rotation, template: Template.fromStack(stack) };
}

interface Widget {
  type: string;
  properties: { title?: string; metrics?: unknown[][]; alarms?: string[] };
}

/**
 * The dashboard's body as JSON: its deploy-time values (the region, the alarms' ARNs) are tokens inside strings,
 * which stand in here as placeholders.
 */
function dashboardBody(template: Template): { widgets: Widget[] } {
  const [dashboard] = Object.values(template.findResources("AWS::CloudWatch::Dashboard"));
  const body = dashboard?.Properties.DashboardBody as { "Fn::Join": [string, unknown[]] };
  const text = body["Fn::Join"][1]
    .map((part) => (typeof part === "string" ? part : `<${JSON.stringify(part).replace(/"/g, "'")}>`))
    .join("");
  return JSON.parse(text);
}

/** [namespace, metric name, dimensions…] of every metric of every graph ("." repeats the line above). */
function graphedMetrics(widgets: Widget[]): { namespace: string; name: string; dimensions: unknown[] }[] {
  const out: { namespace: string; name: string; dimensions: unknown[] }[] = [];
  for (const widget of widgets.filter((w) => w.type === "metric")) {
    let previous: unknown[] = [];
    for (const line of widget.properties.metrics ?? []) {
      const fields = line
        .filter((field) => typeof field === "string")
        .map((field, i) => (field === "." ? previous[i] : field));
      previous = fields;
      const [namespace, name, ...dimensions] = fields as string[];
      out.push({ namespace: namespace as string, name: name as string, dimensions });
    }
  }
  return out;
}

/** Every metric name the functions' code passes to a `metric("…")` call (the Telemetry port, the Novala client). */
function publishedInCode(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".ts")) {
        for (const match of readFileSync(path, "utf8").matchAll(/\bmetric\(\s*"([A-Za-z]+)"/g))
          names.add(match[1] as string);
      }
    }
  };
  walk(LAMBDAS);
  return names;
}

describe("the dashboard", () => {
  const { rotation, template } = synthesize();
  const widgets = dashboardBody(template).widgets;
  const graphed = graphedMetrics(widgets);

  it("graphs only the functions' own metrics, in their namespace and service dimension", () => {
    expect(graphed.length).toBeGreaterThan(0);
    for (const metric of graphed) {
      expect(metric).toEqual({
        namespace: METRICS_NAMESPACE,
        name: metric.name,
        dimensions: ["service", METRICS_SERVICE],
      });
    }
  });

  it("names only metrics the code really publishes", () => {
    const published = publishedInCode();
    // The contract's list is honest: each name is published by some `metric("…")` call in lambdas/.
    expect(METRIC_NAMES.filter((name) => !published.has(name))).toEqual([]);
    // And nothing is published outside it (the port's type would not compile; this catches a cast).
    expect([...published].filter((name) => !(METRIC_NAMES as string[]).includes(name))).toEqual([]);
    for (const { name } of graphed) expect(published, `graphed ${name}`).toContain(name);
  });

  it("shows what an operator asks of a fleet's rotation", () => {
    const shown = new Set(graphed.map((metric) => metric.name as MetricName));
    const asked: MetricName[] = [
      // rotations succeeded, rolled back, ended and failed
      "RotationsSucceeded",
      "RotationsRolledBack",
      "RotationsEnded",
      "RotationsFailed",
      // revocations done, postponed and refused
      "KeysRevoked",
      "RevocationsPostponed",
      "RevocationsRefused",
      // refused claims, health-check latency, rate-budget waits and 429s, the hard limit
      "KeyClaimsRefused",
      "PromotionsRefused",
      "HealthCheckLatency",
      "RateBudgetWait",
      "NovalaRateLimited",
      "RevocationHardLimitReached",
      // the oldest secret since its last rotation
      "OldestRotationAgeDays",
    ];
    expect(asked.filter((name) => !shown.has(name))).toEqual([]);
  });

  it("shows the state of every alarm the construct makes, by ARNs built from their names", () => {
    const alarmWidget = widgets.find((widget) => widget.type === "alarm");
    const alarmNames = Object.values(template.findResources("AWS::CloudWatch::Alarm")).map(
      (alarm) => alarm.Properties.AlarmName as string,
    );
    expect(alarmNames).toHaveLength(Object.keys(rotation.alarms).length);
    expect(alarmWidget?.properties.alarms?.map((arn) => arn.split(":alarm:")[1]).sort()).toEqual(alarmNames.sort());
    // No reference to an alarm: the dashboard depends on none of them.
    expect(JSON.stringify(alarmWidget)).not.toContain("Fn::GetAtt");
  });

  it("is named after the stack and the construct, and can be left out", () => {
    const [dashboard] = Object.values(template.findResources("AWS::CloudWatch::Dashboard"));
    expect(dashboard?.Properties.DashboardName).toMatch(/^DashboardStack-Rotation-[0-9A-F]{8}$/);
    expect(rotation.dashboard).toBeDefined();
    const without = synthesize({ dashboard: false });
    without.template.resourceCountIs("AWS::CloudWatch::Dashboard", 0);
    expect(without.rotation.dashboard).toBeUndefined();
  });
});
