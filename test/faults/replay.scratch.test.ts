import { it } from "vitest";
import { actorNames, expandSchedule, RaceFound, runRace, ScriptedScheduler } from "./support/concurrency.js";
it("replay", async () => {
  const scenario = JSON.parse(process.env.SCENARIO as string);
  try {
    const s = await runRace(scenario, new ScriptedScheduler(expandSchedule(process.env.SCHEDULE ?? ""), actorNames(scenario)));
    console.log("PASSED", JSON.stringify(s.outcomes)); console.log(s.releases.filter((r) => !r.startsWith("setup")).join("\n"));
  } catch (e) { if (e instanceof RaceFound) { console.log(e.violation.message.split("\n")[0]); console.log(e.releases.filter((r) => !r.startsWith("setup")).join("\n")); } else throw e; }
}, 60000);
