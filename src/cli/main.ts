// `pie`: the engine from the command line. Subcommands: generate, tokenize, complete, replay, bench engine, bench edit,
// bench context, eval repo, pull, models.
import { existsSync, readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { benchEngine } from './bench.js';
import { soak } from '../engine/soak.js';
import { localModel, models, pull } from './hub.js';
import { openModel, printTable, readStdin, tokenizerFromFile } from './common.js';
import { DEFAULT_MODEL, FIM_SETTINGS, fimFor, type FimSetting, KNOWN_MODELS, resolveKnownModel } from './models.js';
import { generate } from '../engine/generate.js';
import { DocumentSession, METHODS, type Method } from '../engine/session.js';
import { benchEdit, printBenchEdit } from './bench-edit.js';
import { benchContext, benchFidelity, defaultSource, DEFAULT_FILE, parseMethods } from './bench-context.js';
import { evalRepo } from './eval-repo.js';
import { readTraceFiles, replay } from './replay.js';
import { serve } from '../lsp/server.js';

const USAGE = `pie: local code completion engine (WebGPU)

  pie generate --model FILE --prompt TEXT [--max-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S] [--json]
  pie tokenize --model FILE [--json] [--batch]        text from standard input (with --batch: a JSON array of strings)
  pie bench engine --model FILE [--prompt-tokens N] [--gen-tokens N] [--runs N] [--json]
  pie bench edit --model FILE --context N[,N...] [--methods pie,pie:0,cfe,prefix,full] [--runs N] [--json]
  pie bench context [--model FILE] [--context-tokens N[,N...]] [--file-tokens N] [--source DIR] [--file PATH]
               [--chunk-lines N] [--methods pie,reuse,full] [--cache-reuse N] [--runs N] [--policy-steps N] [--seed S] [--json]
                                                       a context change (chunk added, dropped, replaced, edited,
                                                       reordered) to the next token's logits; the ordering policies
  pie bench context --fidelity [--source DIR[,DIR...]] [--methods pie,pie:0,cfe] [--traces N] [--rounds N] [--json]
                                                       PIE against a full recomputation after context changes
  pie eval repo --repo DIR [--model FILE] [--cases N] [--seed S] [--context-tokens N] [--exclude GLOB[,GLOB]] [--verbose] [--json]
                                                       next-line exact match and edit similarity with and without
                                                       chunks of the folder's other files as context
  pie complete --model FILE --file FILE [--offset N] [--max-tokens N] [--max-lines N] [--fim auto|on|off|psm|spm] [--json]
                                                       what the editor shows at offset N (default: the end)
  pie pull ORG/NAME/FILE | ORG/NAME:QUANT | ID [--json]
                                                       downloads into the Hugging Face cache; prints the path
  pie models [--json]                                  the catalog, and what the Hugging Face cache holds
  pie serve --stdio [--model FILE]                     a language server (LSP 3.18 inline completions) on standard
                                                       input and output; docs/lsp.md
  pie soak [--model FILE] [--documents N] [--steps N] [--seed S] [--json]
                                                       random edits and completions across documents: errors by kind,
                                                       GPU bytes before and after, caches against a full recomputation
  pie replay --model FILE --document FILE --edits FILE.jsonl --method pie|cfe|prefix|full [--compare METHOD]
               [--resync-threshold ROWS] [--refresh-window TOKENS] [--json]

--model FILE also takes hf:ORG/NAME/FILE or hf:ORG/NAME:QUANT (from the cache, else downloaded into it).
Hub variables, as huggingface_hub reads them: HF_ENDPOINT (a mirror), HF_HUB_CACHE or HF_HOME (the cache, default
~/.cache/huggingface/hub), HF_TOKEN (gated repositories), HF_HUB_OFFLINE=1 (the cache only).
--model defaults to ${DEFAULT_MODEL}, our code model (${KNOWN_MODELS[DEFAULT_MODEL]?.bundled ?? 'downloaded once with its sha256 checked'}).
PIE_GPU=vulkan|lavapipe|swiftshader|gles picks the WebGPU adapter; by default the first that works.`;

class UsageError extends Error {}

async function modelPath(arg: string | undefined): Promise<string> {
  return arg ? localModel(arg) : resolveKnownModel(DEFAULT_MODEL, (s) => process.stderr.write(`${s}\n`));
}

function num(v: string | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} expects a number, got "${v}"`);
  return n;
}

async function cmdGenerate(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      prompt: { type: 'string' },
      'max-tokens': { type: 'string' },
      temperature: { type: 'string' },
      'top-k': { type: 'string' },
      'top-p': { type: 'string' },
      seed: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  if (values.prompt === undefined) throw new UsageError('generate needs --prompt TEXT');
  const file = await modelPath(values.model);
  const { ctx, model } = await openModel(file);
  try {
    const result = await generate(model, values.prompt, {
      maxTokens: num(values['max-tokens'], 'max-tokens', 64),
      temperature: num(values.temperature, 'temperature', 0),
      topK: num(values['top-k'], 'top-k', 40),
      topP: num(values['top-p'], 'top-p', 0.95),
      seed: num(values.seed, 'seed', 0),
      onToken: values.json ? undefined : (_id, text) => process.stdout.write(text),
    });
    if (values.json) {
      console.log(
        JSON.stringify({
          device: ctx.describe(),
          model: basename(file),
          promptTokens: result.promptTokens,
          tokens: result.tokens,
          text: result.text,
          prefillMs: round(result.prefillMs),
          decodeMsPerToken: round(result.decodeMsPerToken),
        }),
      );
    } else {
      process.stdout.write('\n');
      process.stderr.write(
        `[${result.promptTokens.length} prompt tokens in ${result.prefillMs.toFixed(1)} ms; ${result.tokens.length} tokens at ` +
          `${result.decodeMsPerToken.toFixed(2)} ms/token; stop: ${result.stopReason}; ${ctx.describe()}]\n`,
      );
    }
  } finally {
    model.destroy();
    ctx.destroy();
  }
}

async function cmdTokenize(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { model: { type: 'string' }, json: { type: 'boolean', default: false }, batch: { type: 'boolean', default: false } } });
  const tok = await tokenizerFromFile(await modelPath(values.model));
  const input = await readStdin();
  if (values.batch) {
    let texts: unknown;
    try {
      texts = JSON.parse(input);
    } catch (e) {
      throw new UsageError(`--batch expects a JSON array of strings on standard input: ${(e as Error).message}`);
    }
    if (!Array.isArray(texts) || !texts.every((t) => typeof t === 'string')) throw new UsageError('--batch expects a JSON array of strings on standard input');
    console.log(JSON.stringify({ ids: texts.map((t: string) => tok.encode(t)) }));
    return;
  }
  const ids = tok.encode(input);
  console.log(values.json ? JSON.stringify({ ids }) : ids.join(' '));
}

function method(v: string | undefined, name: string): Method {
  if (v === undefined || !(METHODS as readonly string[]).includes(v)) throw new UsageError(`--${name} expects one of ${METHODS.join(', ')}, got "${v ?? ''}"`);
  return v as Method;
}

/** What the editor would show: a fresh session on the file, completed at an offset (FIM when the model has it). */
async function cmdComplete(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      file: { type: 'string' },
      offset: { type: 'string' },
      'max-tokens': { type: 'string' },
      'max-lines': { type: 'string' },
      fim: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  if (!values.file) throw new UsageError('complete needs --file FILE');
  const fim = (values.fim ?? 'auto') as FimSetting;
  if (!FIM_SETTINGS.includes(fim)) throw new UsageError(`--fim must be one of ${FIM_SETTINGS.join(', ')}`);
  const text = readFileSync(values.file, 'utf8');
  const offset = num(values.offset, 'offset', text.length);
  if (!Number.isInteger(offset) || offset < 0 || offset > text.length) throw new UsageError(`--offset must be an integer in [0, ${text.length}]`);
  const file = await modelPath(values.model);
  const { ctx, model } = await openModel(file);
  // as the extension's "pie.fillInTheMiddle": auto is the known model's prompt order, else psm (FIM tokens permitting)
  const s = new DocumentSession(model, text, { fim: fimFor(fim, file) });
  try {
    const c = await s.complete({ offset, maxTokens: num(values['max-tokens'], 'max-tokens', 32), maxLines: num(values['max-lines'], 'max-lines', 4) });
    if (values.json) console.log(JSON.stringify({ device: ctx.describe(), model: basename(file), offset, text: c.text, tokens: c.tokens, stopReason: c.stopReason, firstTokenMs: c.firstTokenMs }));
    else process.stdout.write(`${c.text}\n`);
  } finally {
    s.destroy();
    model.destroy();
    ctx.destroy();
  }
}

async function cmdReplay(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      document: { type: 'string' },
      edits: { type: 'string' },
      method: { type: 'string' },
      compare: { type: 'string' },
      'resync-threshold': { type: 'string' },
      'refresh-window': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  if (!values.document || !values.edits) throw new UsageError('replay needs --document FILE and --edits FILE.jsonl');
  const m = method(values.method, 'method');
  const compare = values.compare === undefined ? undefined : method(values.compare, 'compare');
  const { document, steps } = readTraceFiles(values.document, values.edits);
  const { ctx, model } = await openModel(await modelPath(values.model));
  try {
    await replay({
      ctx,
      model,
      document,
      steps,
      method: m,
      ...(compare ? { compare } : {}),
      resyncThreshold: num(values['resync-threshold'], 'resync-threshold', Infinity),
      ...(values['refresh-window'] !== undefined ? { refreshWindow: num(values['refresh-window'], 'refresh-window', 16) } : {}),
      json: values.json ?? false,
    });
  } finally {
    model.destroy();
    ctx.destroy();
  }
}

async function cmdBenchEdit(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      context: { type: 'string' },
      methods: { type: 'string' },
      runs: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const contexts = (values.context ?? '256,512,1024,2048').split(',').map((c) => num(c, 'context', 0));
  if (contexts.some((c) => !Number.isInteger(c) || c < 64)) throw new UsageError('--context expects integers of at least 64, comma-separated');
  // `pie:N` is pie with a refresh window of N tokens; the default list puts PIE as the paper has it (pie:0) beside ours
  const methods = (values.methods ?? 'pie,pie:0,cfe,prefix,full').split(',').map((label) => {
    const [m, w] = label.split(':');
    return { label, method: method(m, 'methods'), ...(w !== undefined ? { refreshWindow: num(w, 'methods', 0) } : {}) };
  });
  const { ctx, model } = await openModel(await modelPath(values.model));
  try {
    const o = { ctx, model, contexts, methods, runs: num(values.runs, 'runs', 5), json: values.json ?? false };
    printBenchEdit(o, await benchEdit(o));
  } finally {
    model.destroy();
    ctx.destroy();
  }
}

function ints(v: string, name: string, min: number): number[] {
  const xs = v.split(',').map((c) => num(c, name, 0));
  if (xs.some((x) => !Number.isInteger(x) || x < min)) throw new UsageError(`--${name} expects whole numbers of at least ${min}, comma-separated`);
  return xs;
}

function methodsOf(list: string): ReturnType<typeof parseMethods> {
  try {
    return parseMethods(list);
  } catch (e) {
    throw new UsageError(`--methods: ${(e as Error).message}`);
  }
}

async function cmdBenchContext(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      'context-tokens': { type: 'string' },
      'file-tokens': { type: 'string' },
      source: { type: 'string' },
      file: { type: 'string' },
      exclude: { type: 'string' },
      'chunk-lines': { type: 'string' },
      methods: { type: 'string' },
      'cache-reuse': { type: 'string' },
      runs: { type: 'string' },
      'policy-steps': { type: 'string' },
      'policy-context': { type: 'string' },
      seed: { type: 'string' },
      fidelity: { type: 'boolean', default: false },
      traces: { type: 'string' },
      rounds: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const sources = values.source ? values.source.split(',').map((d) => resolve(d)) : [defaultSource()];
  for (const d of sources) if (!existsSync(d)) throw new UsageError(`--source ${d}: no such folder`);
  const exclude = values.exclude ? values.exclude.split(',') : [];
  const file = await modelPath(values.model);
  const fim = fimFor('auto', file);
  const seed = num(values.seed, 'seed', 1);
  const { ctx, model } = await openModel(file);
  try {
    if (values.fidelity) {
      await benchFidelity({
        ctx,
        model,
        modelName: basename(file),
        fim,
        sources,
        exclude,
        methods: methodsOf(values.methods ?? 'pie,pie:0,cfe'),
        traces: ints(values.traces ?? '2', 'traces', 1)[0]!,
        rounds: ints(values.rounds ?? '2', 'rounds', 1)[0]!,
        seed,
        contextTokens: ints(values['context-tokens'] ?? '640', 'context-tokens', 16)[0]!,
        prefixTokens: ints(values['file-tokens'] ?? '640', 'file-tokens', 16)[0]!,
        chunkLines: ints(values['chunk-lines'] ?? '32', 'chunk-lines', 1)[0]!,
        json: values.json ?? false,
      });
      return;
    }
    await benchContext({
      ctx,
      model,
      modelName: basename(file),
      fim,
      sources,
      file: values.file ?? DEFAULT_FILE,
      contexts: ints(values['context-tokens'] ?? '1024,2048,4096', 'context-tokens', 16),
      fileTokens: ints(values['file-tokens'] ?? '1024', 'file-tokens', 16)[0]!,
      chunkLines: ints(values['chunk-lines'] ?? '32', 'chunk-lines', 1)[0]!,
      methods: methodsOf(values.methods ?? 'pie,reuse,full'),
      runs: ints(values.runs ?? '3', 'runs', 1)[0]!,
      cacheReuse: ints(values['cache-reuse'] ?? '256', 'cache-reuse', 0)[0]!,
      policySteps: ints(values['policy-steps'] ?? '30', 'policy-steps', 0)[0]!,
      policyContext: ints(values['policy-context'] ?? '1024', 'policy-context', 16)[0]!,
      seed,
      exclude,
      json: values.json ?? false,
    });
  } finally {
    model.destroy();
    ctx.destroy();
  }
}

async function cmdEval(argv: string[]): Promise<void> {
  const [what, ...rest] = argv;
  if (what !== 'repo') throw new UsageError(`eval: unknown target "${what ?? ''}" (known: repo)`);
  const { values } = parseArgs({
    args: rest,
    options: {
      repo: { type: 'string' },
      model: { type: 'string' },
      cases: { type: 'string' },
      seed: { type: 'string' },
      'context-tokens': { type: 'string' },
      'chunk-lines': { type: 'string' },
      'max-prefix': { type: 'string' },
      exclude: { type: 'string' },
      verbose: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  if (!values.repo) throw new UsageError('eval repo needs --repo DIR');
  if (!existsSync(values.repo)) throw new UsageError(`--repo ${values.repo}: no such folder`);
  const file = await modelPath(values.model);
  const { ctx, model } = await openModel(file);
  try {
    await evalRepo({
      ctx,
      model,
      modelName: basename(file),
      fim: fimFor('auto', file),
      repo: resolve(values.repo),
      cases: ints(values.cases ?? '100', 'cases', 1)[0]!,
      seed: num(values.seed, 'seed', 1),
      contextTokens: ints(values['context-tokens'] ?? '1024', 'context-tokens', 0)[0]!,
      chunkLines: ints(values['chunk-lines'] ?? '32', 'chunk-lines', 1)[0]!,
      maxPrefixTokens: ints(values['max-prefix'] ?? '896', 'max-prefix', 16)[0]!,
      exclude: values.exclude ? values.exclude.split(',') : [],
      verbose: values.verbose ?? false,
      json: values.json ?? false,
    });
  } finally {
    model.destroy();
    ctx.destroy();
  }
}

async function cmdBench(argv: string[]): Promise<void> {
  const [what, ...rest] = argv;
  if (what === 'edit') return cmdBenchEdit(rest);
  if (what === 'context') return cmdBenchContext(rest);
  if (what !== 'engine') throw new UsageError(`bench: unknown target "${what ?? ''}" (known: engine, edit, context)`);
  const { values } = parseArgs({
    args: rest,
    options: {
      model: { type: 'string' },
      'prompt-tokens': { type: 'string' },
      'gen-tokens': { type: 'string' },
      runs: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  await benchEngine({
    modelPath: await modelPath(values.model),
    promptTokens: num(values['prompt-tokens'], 'prompt-tokens', 128),
    genTokens: num(values['gen-tokens'], 'gen-tokens', 64),
    runs: num(values.runs, 'runs', 5),
    json: values.json ?? false,
  });
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** True when the run was clean: no error, no GPU bytes gained, every cache exact. */
async function cmdSoak(argv: string[]): Promise<boolean> {
  const { values } = parseArgs({
    args: argv,
    options: { model: { type: 'string' }, documents: { type: 'string' }, steps: { type: 'string' }, seed: { type: 'string' }, json: { type: 'boolean', default: false } },
  });
  const { ctx, model } = await openModel(await modelPath(values.model));
  try {
    const r = await soak(model, {
      documents: num(values.documents, 'documents', 4),
      steps: num(values.steps, 'steps', 2000),
      seed: num(values.seed, 'seed', 1),
      onProgress: (step) => process.stderr.write(`step ${step}\n`),
    });
    const errors = Object.entries(r.errors).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
    printTable(['steps', 'edits', 'completions', 'accepted', 'cancelled', 're-syncs', 'closed and reopened', 'errors', 'GPU bytes start -> end', 'layer 0 / all layers after re-sync', 'seconds'], [
      [String(r.steps), String(r.edits), String(r.completions), String(r.accepted), String(r.cancelled), String(r.resyncs), String(r.reopened), errors, `${r.gpuBytesStart} -> ${r.gpuBytesEnd}`, `${r.worstLayer0.toExponential(1)} / ${r.worstAfterResync.toExponential(1)}`, r.seconds.toFixed(1)],
    ]);
    console.log(`device: ${ctx.describe()}`);
    if (values.json) console.log(JSON.stringify({ device: ctx.describe(), ...r }));
    return Object.keys(r.errors).length === 0 && r.cachesExact && r.gpuBytesEnd === r.gpuBytesStart;
  } finally {
    model.destroy();
    ctx.destroy();
  }
}

async function main(): Promise<number> {
  const [cmd, ...rest] = process.argv.slice(2);
  try {
    switch (cmd) {
      case 'generate':
        await cmdGenerate(rest);
        return 0;
      case 'tokenize':
        await cmdTokenize(rest);
        return 0;
      case 'bench':
        await cmdBench(rest);
        return 0;
      case 'replay':
        await cmdReplay(rest);
        return 0;
      case 'eval':
        await cmdEval(rest);
        return 0;
      case 'complete':
        await cmdComplete(rest);
        return 0;
      case 'pull': {
        const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { json: { type: 'boolean', default: false } } });
        if (positionals.length !== 1) throw new UsageError('pull needs one model: ORG/NAME/FILE, ORG/NAME:QUANT or a catalog id (pie models)');
        await pull(positionals[0]!, values.json);
        return 0;
      }
      case 'soak':
        return (await cmdSoak(rest)) ? 0 : 1;
      case 'serve': {
        const { values } = parseArgs({ args: rest, options: { stdio: { type: 'boolean', default: false }, model: { type: 'string' } } });
        if (!values.stdio) throw new UsageError('serve speaks LSP over standard input and output: pie serve --stdio');
        const conn = serve({ model: values.model, resolveModel: modelPath });
        await new Promise<void>((resolve) => conn.onExit(resolve));
        return 0;
      }
      case 'models': {
        const { values } = parseArgs({ args: rest, options: { json: { type: 'boolean', default: false } } });
        await models(values.json);
        return 0;
      }
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        console.log(USAGE);
        return cmd === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${cmd}"`);
    }
  } catch (e) {
    const err = e as Error;
    if (err instanceof UsageError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      console.error(`pie: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    console.error(`pie: ${err.message}`);
    if (process.env.PIE_DEBUG) console.error(err.stack);
    return 1;
  }
}

// Exit explicitly: Dawn keeps handles that would otherwise hold the process open.
main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
