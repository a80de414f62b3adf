/** Real-format readers: Ali-CCP raw (on a file written here in that format), the shared samples, and a fuzz test. */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { CsvRowParser, DataError, Rng, type Dataset, decodeSafetensors, encodeSafetensors, parseCommonLine, parseFeatureList, parseModelJson, parseSkeletonLine } from "../src/index.js";
import { emptyStats, fitAndLoad, fitPreprocessor, loadDataset, openSource } from "../src/node/index.js";

const dir = mkdtempSync(join(tmpdir(), "esmm-readers-"));
const entry = (field: string, id: string | number, v: number): string => `${field}\x02${id}\x03${v}`;

describe("Ali-CCP raw format", () => {
  // Two users' common features; four impressions, one of which converts without a click (dropped).
  const common = [
    ["u1", [entry("101", 11, 1), entry("121", 3, 1), entry("109_14", 500, 2), entry("109_14", 501, 1)]],
    ["u2", [entry("101", 12, 1), entry("124", 1, 1)]],
  ].map(([k, f]) => `${k},${(f as string[]).length},${(f as string[]).join("\x01")}`);
  const skeleton = [
    ["1", "1", "0", "u1", [entry("205", 9001, 1), entry("206", 7, 1), entry("508", 42, 0.5)]],
    ["2", "1", "1", "u2", [entry("205", 9002, 1), entry("301", 1, 1)]],
    ["3", "0", "1", "u1", [entry("205", 9003, 1)]],
    ["4", "0", "0", "u2", [entry("205", 9001, 1), entry("210", 5, 1), entry("210", 6, 1)]],
  ].map(([s, c, v, k, f]) => `${s},${c},${v},${k},${(f as string[]).length},${(f as string[]).join("\x01")}`);
  const sk = join(dir, "sample_skeleton_train.csv");
  const cf = join(dir, "common_features_train.csv");
  writeFileSync(sk, skeleton.join("\n") + "\n");
  writeFileSync(cf, common.join("\n") + "\n");

  it("joins skeleton and common features, builds weighted bags, drops and counts conversions without clicks", async () => {
    const src = await openSource({ format: "aliccp-raw", path: sk, common: cf });
    const stats = emptyStats();
    const rows = [];
    for await (const r of src.rows(stats)) rows.push(r);
    expect(rows.length).toBe(3);
    expect(stats.dropped).toBe(1);
    const r0 = rows[0]!;
    const single = src.schema.categorical;
    expect(r0.singles[single.indexOf("101")]).toBe("11"); // from the user's common features
    expect(r0.singles[single.indexOf("205")]).toBe("9001"); // from the impression
    expect(r0.singles[single.indexOf("216")]).toBe(""); // absent: out of vocabulary
    const multi = src.schema.multi.map((m) => m.name);
    expect(r0.multis[multi.indexOf("109_14")]).toEqual({ tokens: ["500", "501"], weights: [2, 1] });
    expect(r0.multis[multi.indexOf("508")]).toEqual({ tokens: ["42"], weights: [0.5] });
    expect(rows[2]!.multis[multi.indexOf("210")]!.tokens).toEqual(["5", "6"]);
    expect([rows[0]!.click, rows[1]!.conversion, rows[2]!.click]).toEqual([1, 1, 0]);
    const pre = await fitPreprocessor(src);
    const ds = await loadDataset(src, pre);
    expect(ds.size).toBe(3);
    expect(pre.fieldSpecs().length).toBe(23); // the paper's 23 fields
  });

  it("names file, line and column on bad lines", () => {
    const m = new Map([["u1", parseFeatureList(entry("101", 1, 1), 1, "c", 1, "feature_list")]]);
    expect(() => parseSkeletonLine("1,1,0,u9,1," + entry("205", 1, 1), m, "s.csv", 5)).toThrow('s.csv:5: column "common_feature_index": index "u9" is not in the common features file');
    expect(() => parseSkeletonLine("1,1,0,u1,2," + entry("205", 1, 1), m, "s.csv", 6)).toThrow('s.csv:6: column "feature_list": feature_num says 2 entries, the list has 1');
    expect(() => parseSkeletonLine("1,x,0,u1,0,", m, "s.csv", 7)).toThrow('s.csv:7: column "click": label "x" is not 0 or 1');
    // counts and values in decimal notation only (Number() would read "0x1" as 1 and "" as 0)
    expect(() => parseSkeletonLine("1,1,0,u1,0x1," + entry("205", 1, 1), m, "s.csv", 8)).toThrow('s.csv:8: column "feature_num": "0x1" is not a count');
    expect(() => parseSkeletonLine("1,1,0,u1,,", m, "s.csv", 9)).toThrow('s.csv:9: column "feature_num": "" is not a count');
    expect(() => parseCommonLine("u1,1,205\x029\x030x10", "c.csv", 3)).toThrow(/c\.csv:3: column "feature_list": feature entry .* has a bad id or value/);
    expect(() => parseCommonLine("u1,1,205\x029", "c.csv", 2)).toThrow(/c\.csv:2: column "feature_list": feature entry "205\\x029" is not field\\x02id\\x03value/);
  });
});

const SHARED = join(import.meta.dirname, "..", "..", "shared", "data");

describe.skipIf(!existsSync(join(SHARED, "ali-ccp")))("shared samples (skipped where ../shared is absent)", () => {
  it("reads torch-rechub's Ali-CCP sample: 23 sparse fields, 8 dense, 7 clicks and 1 purchase", async () => {
    const src = await openSource({ format: "aliccp-csv", path: join(SHARED, "ali-ccp", "ali_ccp_train_sample.csv") });
    expect(src.schema.categorical.length).toBe(23);
    expect(src.schema.dense).toEqual(["D109_14", "D110_14", "D127_14", "D150_14", "D508", "D509", "D702", "D853"]);
    const pre = await fitPreprocessor(src);
    const ds = await loadDataset(src, pre);
    expect(ds.size).toBe(100);
    expect(ds.click.reduce((a, b) => a + b, 0)).toBe(7);
    expect(ds.conversion.reduce((a, b) => a + b, 0)).toBe(1);
    // the validation split maps through the training vocabulary
    const va = await loadDataset(await openSource({ format: "aliccp-csv", path: join(SHARED, "ali-ccp", "ali_ccp_val_sample.csv") }), pre);
    expect(va.size).toBe(50);
    expect(va.click.reduce((a, b) => a + b, 0)).toBe(3);
  });

  it("reads the AliExpress sample: 16 categorical, 63 dense, search_id as the GAUC key", async () => {
    const src = await openSource({ format: "aliexpress", path: join(SHARED, "aliexpress", "aliexpress_train_sample.csv") });
    expect(src.schema.categorical.length).toBe(16);
    expect(src.schema.dense.length).toBe(63);
    const ds = await loadDataset(src, await fitPreprocessor(src));
    expect(ds.size).toBe(100);
    expect(ds.click.reduce((a, b) => a + b, 0)).toBe(60);
    expect(ds.conversion.reduce((a, b) => a + b, 0)).toBe(2);
    expect(new Set(ds.user).size).toBe(41);
  });
});

describe("fuzz: mutated lines and files end in a clean error or a correct parse", () => {
  const mutate = (s: string, rng: Rng): string => {
    const chars = [",", "0", "1", "2", "\"", ":", "|", "x", "\x01", "\x02", "\x03", "-", ".", "e", " ", ""];
    let out = s;
    const n = 1 + rng.int(3);
    for (let k = 0; k < n; k++) {
      const i = rng.int(out.length + 1);
      const op = rng.int(3);
      const c = chars[rng.int(chars.length)]!;
      out = op === 0 ? out.slice(0, i) + c + out.slice(i) : op === 1 ? out.slice(0, i) + out.slice(i + 1) : out.slice(0, i) + c + out.slice(i + 1);
    }
    return out;
  };

  it("CSV lines", () => {
    const p = new CsvRowParser("click,conversion,true_pctr,true_pcvr,u,tags,d", { multi: [{ name: "tags" }], dense: ["d"] }, "fz.csv");
    const good = "1,1,0.5,0.25,u7,3:2|7:1,4.5";
    const rng = new Rng(99);
    let parsed = 0;
    for (let i = 0; i < 5000; i++) {
      const line = mutate(good, rng);
      try {
        const r = p.parse(line, i + 2);
        parsed++;
        // a successful parse must satisfy every invariant a reader promises
        expect([0, 1]).toContain(r.click);
        expect([0, 1]).toContain(r.conversion);
        expect(r.conversion <= r.click).toBe(true);
        expect(r.dense.every(Number.isFinite)).toBe(true);
        expect(r.truePctr! >= 0 && r.truePctr! <= 1).toBe(true);
        expect(r.multis[0]!.weights === null || r.multis[0]!.weights.every(Number.isFinite)).toBe(true);
        expect(r.multis[0]!.weights === null || r.multis[0]!.weights.length === r.multis[0]!.tokens.length).toBe(true);
      } catch (e) {
        expect(e).toBeInstanceOf(DataError);
        expect((e as Error).message).toMatch(new RegExp(`^fz\\.csv:${i + 2}: `));
      }
    }
    expect(parsed).toBeGreaterThan(100); // the fuzzer exercises both outcomes
  });

  it("Ali-CCP raw lines", () => {
    const common = new Map([["u1", parseFeatureList(entry("101", 1, 1), 1, "c", 1, "f")]]);
    const good = `1,1,0,u1,2,${entry("205", 9, 1)}\x01${entry("508", 4, 0.5)}`;
    const rng = new Rng(7);
    for (let i = 0; i < 3000; i++) {
      const line = mutate(good, rng);
      try {
        const r = parseSkeletonLine(line, common, "sk.csv", i + 1);
        if (r) expect(r.conversion <= r.click).toBe(true);
      } catch (e) {
        expect(e).toBeInstanceOf(DataError);
      }
    }
  });

  it("checkpoint files: random byte corruption of weights and model.json", () => {
    const rng = new Rng(3);
    const bytes = encodeSafetensors(new Map([["a.weight", { data: Float32Array.of(1, 2, 3, 4), shape: [2, 2] }], ["b", { data: Float32Array.of(5), shape: [1] }]]));
    for (let i = 0; i < 3000; i++) {
      const b = bytes.slice(0, rng.bernoulli(0.3) ? rng.int(bytes.length) : bytes.length);
      for (let k = 0; k < 1 + rng.int(3); k++) if (b.length) b[rng.int(b.length)] = rng.int(256);
      try {
        const d = decodeSafetensors(b, "w");
        // a successful decode must still describe consistent tensors
        for (const t of d.tensors.values()) expect(t.data.length).toBe(t.shape.reduce((x, y) => x * y, 1));
      } catch (e) {
        expect((e as Error).message).toMatch(/^w: /);
      }
    }
    const good = JSON.stringify({ format: "esmm-ts-checkpoint", formatVersion: 1, config: { fields: [{ name: "a", vocab: 3 }] } });
    for (let i = 0; i < 2000; i++) {
      try {
        parseModelJson(mutate(good, rng), "model.json");
      } catch (e) {
        expect((e as Error).message).toMatch(/^model\.json: /);
      }
    }
  });
});

describe("the <file>.schema.json sidecar", () => {
  it("is checked key by key, naming the file and the key; unknown keys are left out, and near misses of known ones refused", async () => {
    const csv = join(dir, "side.csv");
    writeFileSync(csv, "click,conversion,a,b,x\n1,0,u1,c1,0.5\n0,0,u2,c2,1.5\n");
    const open = () => openSource({ format: "csv", path: csv });
    const cases: Array<[unknown, string]> = [
      [{ categorical: 5 }, `${csv}.schema.json: categorical: must be an array, got 5`], // was "categorical is not iterable"
      [{ dense: ["x", 2] }, `${csv}.schema.json: dense[1]: must be a string, got 2`],
      [{ multi: [{ name: "b", pooling: "max" }] }, `${csv}.schema.json: multi[0].pooling: must be one of`],
      [{ user: 7 }, `${csv}.schema.json: user: must be a string, got 7`],
      [{ delimiter: "" }, `${csv}.schema.json: delimiter: must not be empty`],
      [{ noLabels: "yes" }, `${csv}.schema.json: noLabels: must be true or false, got "yes"`],
      [[1], `${csv}.schema.json: must be an object`],
      // a key it does not know is ignored (below), but not a slip of one it knows: "desne" was dropped, and x read as categorical
      [{ desne: ["x"] }, `${csv}.schema.json: desne: is not a schema key (did you mean "dense"?)`],
      [{ categoricals: ["a"] }, `${csv}.schema.json: categoricals: is not a schema key (did you mean "categorical"?)`],
    ];
    for (const [j, msg] of cases) {
      writeFileSync(`${csv}.schema.json`, JSON.stringify(j));
      await expect(open(), JSON.stringify(j)).rejects.toThrow(msg);
    }
    // a valid one applies, and a key it does not know is ignored
    writeFileSync(`${csv}.schema.json`, JSON.stringify({ dense: ["x"], user: "a", writtenBy: "a later version" }));
    const src = await open();
    expect(src.schema.dense).toEqual(["x"]);
    expect(src.schema.categorical).toEqual(["a", "b"]);
    expect(src.schema.user).toBe("a");
  });
});

describe("gzip files", () => {
  const csv = join(dir, "z.csv");
  const lines = ["click,conversion,user_id,app_id,recent_cats,x", ...Array.from({ length: 3000 }, (_, i) => `${i % 7 === 0 ? 1 : 0},0,u${i % 50},a${i % 31},${i % 5}:2|${i % 3},${(i % 10) / 4}`)];
  writeFileSync(csv, lines.join("\n") + "\n");
  writeFileSync(`${csv}.schema.json`, JSON.stringify({ multi: [{ name: "recent_cats" }], dense: ["x"], user: "user_id" }));
  const rowsOf = async (path: string) => {
    const src = await openSource({ format: "csv", path });
    const out = [];
    for await (const r of src.rows()) out.push(r);
    return { schema: src.schema, rows: out };
  };

  it("are read as their text, told by their first bytes, with the plain file's sidecar", async () => {
    const want = await rowsOf(csv);
    writeFileSync(`${csv}.gz`, gzipSync(readFileSync(csv)));
    expect(await rowsOf(`${csv}.gz`)).toEqual(want); // the sidecar of z.csv applies to z.csv.gz
    const dat = join(dir, "z.dat"); // a gzip file by any name
    writeFileSync(dat, gzipSync(readFileSync(csv)));
    writeFileSync(`${dat}.schema.json`, readFileSync(`${csv}.schema.json`));
    expect(await rowsOf(dat)).toEqual(want);
    writeFileSync(join(dir, "plain.csv.gz"), readFileSync(csv)); // and a plain file named .gz is read as text
    expect((await rowsOf(join(dir, "plain.csv.gz"))).rows.length).toBe(3000);
  });

  it("cut short or corrupt: an error naming the file and the line reached, never a quietly shorter file", async () => {
    const gz = gzipSync(readFileSync(csv));
    const cut = join(dir, "cut.csv.gz");
    writeFileSync(cut, gz.subarray(0, gz.length >> 1));
    await expect(rowsOf(cut)).rejects.toThrow(new RegExp(`^${cut.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:\\d+: gzip data is corrupt or cut short \\(unexpected end of file\\)$`));
    const bad = join(dir, "bad.csv.gz");
    writeFileSync(bad, Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.from("not deflate at all")]));
    await expect(rowsOf(bad)).rejects.toThrow(`${bad}:1: gzip data is corrupt or cut short`);
  });
});

describe("fitting the vocabularies", () => {
  it("warns when --min-count leaves a field with no value at all (only the out-of-vocabulary id)", async () => {
    const csv = join(dir, "mincount.csv");
    const rows = ["click,conversion,a,b"];
    for (let i = 0; i < 30; i++) rows.push(`${i % 2},0,${i % 3},${i}`); // a: 3 values x 10 rows; b: 30 values x 1
    writeFileSync(csv, rows.join("\n") + "\n");
    const warnings: string[] = [];
    const pre = await fitPreprocessor(await openSource({ format: "csv", path: csv }), { minCount: 2, warn: (m) => void warnings.push(m) });
    expect(pre.maps.map((m) => m.size)).toEqual([4, 1]); // a keeps its 3 values (+ OOV); b none
    expect(warnings).toEqual(["warning: 1 of 2 fields keep no value seen at least 2 time(s) (b): every row reads the out-of-vocabulary id there, so they cannot help the model; lower --min-count"]);
    warnings.length = 0;
    await fitPreprocessor(await openSource({ format: "csv", path: csv }), { minCount: 1, warn: (m) => void warnings.push(m) });
    expect(warnings.filter((w) => w.includes("out-of-vocabulary"))).toEqual([]);
  });

  // Tokens of every kind a token index could treat apart: integers small and large, leading zeros,
  // signs, exponents, past 2^31 and 2^32, empty, property names, spaces.
  const TOKENS = ["0", "7", "42", "007", "00", "-1", "+3", "1e3", "3.5", "999999999", "1000000000", "2147483647", "2147483648", "4294967296", "", "__proto__", "hasOwnProperty", "constructor", "x y", "ab"];
  const mixed = (file: string, rows: number, seed: number, bad = false): string => {
    const rng = new Rng(seed);
    const pick = (): string => TOKENS[Math.floor(TOKENS.length * rng.next() ** 2)]!;
    const lines = ["click,conversion,u,a,b,tags,d"];
    for (let i = 0; i < rows; i++) {
      const tags = Array.from({ length: rng.int(4) }, () => `${pick() || "z"}:${(rng.int(9) + 1) / 4}`).join("|");
      const d = bad && i % 97 === 5 ? "abc" : (rng.next() * 10 - 5).toFixed(3);
      lines.push(`${rng.int(2)},0,u${rng.int(50)},${pick()},${rng.int(3000)},${tags},${d}`);
    }
    const path = join(dir, file);
    writeFileSync(path, lines.join("\n") + "\n");
    writeFileSync(`${path}.schema.json`, JSON.stringify({ categorical: ["a", "b"], multi: [{ name: "tags" }], dense: ["d"], user: "u" }));
    return path;
  };
  const plain = (ds: Dataset): object => ({ ...ds, bags: ds.bags.map((b) => ({ ...b })) });

  it("in one pass (fitAndLoad) gives the preprocessor and the dataset that fitting and then loading give, bit for bit", async () => {
    const path = mixed("onepass.csv", 3000, 5);
    for (const opts of [{ minCount: 1 }, { minCount: 2 }, { minCount: 100 }, { hashBuckets: 97 }]) {
      const twice = await fitPreprocessor(await openSource({ format: "csv", path }), opts);
      const data = await loadDataset(await openSource({ format: "csv", path }), twice);
      const once = await fitAndLoad(await openSource({ format: "csv", path }), opts);
      expect(once.pre.toJSON()).toEqual(twice.toJSON());
      expect(plain(once.data)).toEqual(plain(data));
    }
    // the vocabulary against a count written out here: by count (desc), then token; ids from 1, 0 for the rest
    const text = readFileSync(path, "utf8").trim().split("\n").slice(1);
    const a = text.map((l) => l.split(",")[3]!);
    const counts = new Map<string, number>();
    for (const t of a) counts.set(t, (counts.get(t) ?? 0) + 1);
    const vocab = [...counts].filter(([, n]) => n >= 100).sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1)).map(([t]) => t);
    const once = await fitAndLoad(await openSource({ format: "csv", path }), { minCount: 100 });
    expect(once.pre.mappings[0]).toEqual({ kind: "vocab", tokens: vocab });
    expect(vocab.length).toBeGreaterThan(5);
    expect(vocab.length).toBeLessThan(TOKENS.length);
    expect(Array.from({ length: a.length }, (_, i) => once.data.ids[i * 2]!)).toEqual(a.map((t) => vocab.indexOf(t) + 1));
  });

  it("in one pass skips and counts bad rows as loading does, and reads standard input's one stream", async () => {
    const path = mixed("onepass-bad.csv", 500, 6, true);
    const s1 = emptyStats();
    const once = await fitAndLoad(await openSource({ format: "csv", path, skipBad: true }), { minCount: 2 }, s1);
    const s2 = emptyStats();
    const data = await loadDataset(await openSource({ format: "csv", path, skipBad: true }), await fitPreprocessor(await openSource({ format: "csv", path, skipBad: true }), { minCount: 2 }), s2);
    expect(s1).toEqual(s2);
    expect(s1.bad).toBe(6); // rows 5, 102, 199, 296, 393, 490
    expect(once.data.size).toBe(494);
    expect(plain(once.data)).toEqual(plain(data));
  });
});
