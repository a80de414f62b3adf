/**
 * The engine in twenty lines: a two-layer MLP learns XOR with autograd and Adam.
 * `npm run example -- tiny`. The README prints this example's output, and test/readme.test.ts checks
 * that it still does.
 */
import { Adam, Linear, Rng, bceWithLogits, relu, tensor } from "../src/index.js";

export function runTiny(): string[] {
  const rng = new Rng(0);
  const l1 = new Linear(2, 8, { rng });
  const l2 = new Linear(8, 1, { rng });
  const opt = new Adam([...l1.namedParameters(), ...l2.namedParameters()].map(([n, p], i) => [`${i}.${n}`, p]), { lr: 0.05 });
  const x = tensor([[0, 0], [0, 1], [1, 0], [1, 1]]);
  const y = Float32Array.of(0, 1, 1, 0);
  const lines: string[] = [];
  for (let step = 0; step <= 200; step++) {
    const logits = l2.forward(relu(l1.forward(x))); // [4, 1]
    const loss = bceWithLogits(logits, y);
    opt.zeroGrad();
    loss.backward();
    opt.step();
    if (step % 50 === 0) lines.push(`step ${step}: loss ${loss.item().toFixed(4)}`);
  }
  const p = l2.forward(relu(l1.forward(x))).data;
  lines.push(`logits: ${Array.from(p, (v) => v.toFixed(2)).join(" ")}`);
  return lines;
}

/** What `npm run example -- tiny` prints. */
export function main(): string[] {
  return runTiny();
}
