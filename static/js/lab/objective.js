// The objective L as a person reads it, for the views that report it (interventions, attribution).

import { tokenLabel } from "../format.js";

/** "½‖h‖² at the last step", "the task's loss", "unit 3 of layer 0 at t = 5", ... (plain text). */
export function objectiveLabel(objective) {
  if (objective === "hidden_norm") return "½‖h‖² at the last step";
  if (objective === "task") return "the task's loss";
  if (objective === "prediction") return "next-token cross-entropy";
  if ("logit" in objective) return `the logit of ‘${tokenLabel(String(objective.logit))}’ at t = ${objective.step}`;
  return `unit ${objective.unit} of layer ${objective.layer} at t = ${objective.step}`;
}
