// Validates every object of a multi-document YAML (stdin or file argument) against the
// Kubernetes schemas with kubernetes-models (and the Prometheus Operator's CRDs). Prints "validated N objects" or the errors;
// exit 1 on any invalid or unknown object. Expects .tools/node_modules (install-tools.sh).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const require = createRequire(path.join(root, ".tools", "package.json"));
const YAML = require("yaml");

const text = readFileSync(process.argv[2] ?? 0, "utf8");
const docs = YAML.parseAllDocuments(text).map((d) => d.toJS()).filter((d) => d && typeof d === "object");
let failures = 0;
for (const obj of docs) {
  const id = `${obj.kind}/${obj.metadata?.name}`;
  const [group, version] = obj.apiVersion.includes("/") ? obj.apiVersion.split("/") : ["", obj.apiVersion];
  // Core and built-in groups come with kubernetes-models; the Prometheus Operator's CRDs (the chart's
  // optional PrometheusRule) with @kubernetes-models/prometheus-operator.
  const modelsPackage = group === "monitoring.coreos.com" ? path.join("@kubernetes-models", "prometheus-operator") : "kubernetes-models";
  const modulePath = path.join(root, ".tools", "node_modules", modelsPackage, group, version, "index.js");
  let mod;
  try { mod = await import(pathToFileURL(modulePath).href); } catch { console.error(`${id}: no schema for ${obj.apiVersion}`); failures++; continue; }
  const Model = mod[obj.kind];
  if (!Model) { console.error(`${id}: unknown kind ${obj.kind} in ${obj.apiVersion}`); failures++; continue; }
  try { new Model(obj).validate(); } catch (e) { console.error(`${id}: ${e.message}`); failures++; }
}
if (docs.length === 0) { console.error("no objects"); process.exit(1); }
console.log(`validated ${docs.length} objects, ${failures} invalid`);
process.exit(failures ? 1 : 0);
