/**
 * A plain TypeScript forward pass of LLM_ARCH_LLAMA, dense or Mixtral-style MoE, written
 * from the model's definition rather than from llama.cpp's code, to check that the binding
 * (through llama.cpp) computes the model the GGUF describes.
 *
 * Mirrors vendor/llama.cpp/src/models/llama.cpp: per layer, pre-norm attention with RoPE
 * (mode NORM: adjacent pairs) and grouped-query heads, a residual add, then a pre-norm
 * SwiGLU feed-forward (or, with experts, build_moe_ffn with softmax gating, top-k experts
 * and the k weights renormalised to sum 1: `norm_w = true`, no scale) and a second residual.
 *
 * Options switch on deliberate bugs, so the test can show that its tolerance catches them.
 */
import { f16Round, f16RoundAll, matvec, rmsNorm, ropeInPlace, silu, softmax, type RopePairing } from './math.js';
import { tensorOf, type RefModel } from './tensors.js';

/** How attention treats precision (what llama.cpp's KV cache and CPU flash attention do). */
export interface PrecisionOptions {
  /**
   * Round K and V to half precision before attention, as the default F16 KV cache does.
   * Default true.
   */
  f16Kv?: boolean;
  /**
   * Mirror the CPU flash-attention kernel for short batches (ggml-cpu ops.cpp,
   * `ggml_compute_forward_flash_attn_ext_f16_one_chunk`, used when fewer than
   * GGML_FA_TILE_Q = 64 query rows): Q is converted to F16 for the K·Q dot product, and the
   * online-softmax V accumulator is F16, rounded after every rescale and every add.
   * Only meaningful with `f16Kv`. Default true. llama.cpp picks flash attention
   * automatically (LLAMA_FLASH_ATTN_TYPE_AUTO) when the backend supports it; the CPU does.
   */
  f16FlashAttn?: boolean;
}

/** Deliberately wrong variants of the graph: each must make the test fail. */
export interface BugOptions {
  /** RoPE pairing; the correct one for LLM_ARCH_LLAMA is `adjacent`. */
  ropePairing?: RopePairing;
  /** `modulo` maps query head h to KV head h % n_head_kv instead of h / (n_head / n_head_kv). */
  gqaMapping?: 'grouped' | 'modulo';
  /** `raw` uses the chosen experts' softmax probabilities without renormalising them. */
  expertWeights?: 'renormalised' | 'raw';
  /** `lowest` routes to the experts with the lowest router probability. */
  expertSelection?: 'highest' | 'lowest';
  /** false drops the residual connection around attention. */
  attnResidual?: boolean;
}

export type ForwardOptions = PrecisionOptions & BugOptions;

/** The model's weights of one layer, looked up once. */
function layerWeights(model: RefModel, il: number) {
  const t = (name: string) => tensorOf(model, `blk.${il}.${name}.weight`).data;
  const moe = model.hparams.nExpert > 0;
  return {
    attnNorm: t('attn_norm'),
    wq: t('attn_q'),
    wk: t('attn_k'),
    wv: t('attn_v'),
    wo: t('attn_output'),
    ffnNorm: t('ffn_norm'),
    gate: moe ? t('ffn_gate_exps') : t('ffn_gate'),
    up: moe ? t('ffn_up_exps') : t('ffn_up'),
    down: moe ? t('ffn_down_exps') : t('ffn_down'),
    router: moe ? t('ffn_gate_inp') : undefined,
  };
}

/** SwiGLU feed-forward `down(silu(gate h) ⊙ up h)`; `e` selects an expert of merged tensors. */
function swiglu(w: ReturnType<typeof layerWeights>, h: Float32Array, nEmbd: number, nFf: number, e = 0): Float32Array {
  const g = matvec(w.gate, nEmbd, nFf, h, e * nEmbd * nFf);
  const u = matvec(w.up, nEmbd, nFf, h, e * nEmbd * nFf);
  const act = new Float32Array(nFf);
  for (let i = 0; i < nFf; i++) act[i] = silu(g[i]!) * u[i]!;
  return matvec(w.down, nFf, nEmbd, act, e * nFf * nEmbd);
}

/** Mixtral's sparse MoE block (build_moe_ffn with LLAMA_EXPERT_GATING_FUNC_TYPE_SOFTMAX, norm_w). */
function moeFfn(model: RefModel, w: ReturnType<typeof layerWeights>, h: Float32Array, nFf: number, opts: ForwardOptions): Float32Array {
  const { nEmbd, nExpert, nExpertUsed } = model.hparams;
  const probs = softmax(matvec(w.router!, nEmbd, nExpert, h));
  const order = [...probs.keys()].sort((a, b) => probs[b]! - probs[a]! || a - b);
  const chosen = opts.expertSelection === 'lowest' ? order.slice(-nExpertUsed) : order.slice(0, nExpertUsed);
  let sum = 0;
  for (const e of chosen) sum += probs[e]!;
  const out = new Float64Array(nEmbd);
  for (const e of chosen) {
    const weight = opts.expertWeights === 'raw' ? probs[e]! : probs[e]! / sum;
    const y = swiglu(w, h, nEmbd, nFf, e);
    for (let i = 0; i < nEmbd; i++) out[i]! += weight * y[i]!;
  }
  return Float32Array.from(out);
}

/**
 * One head's attention output for a query against cached keys/values 0..n-1, as
 * ggml's CPU flash attention does it for short batches: F16 Q, online softmax in float,
 * F16 accumulator (fp32 FMA, then stored as f16), divided by the sum at the end.
 */
function attendFlashF16(q: Float32Array, keys: Float32Array[], values: Float32Array[], scale: number): Float32Array {
  const d = q.length;
  const q16 = f16RoundAll(q);
  const acc = new Float32Array(d); // holds f16 values
  let m = -Infinity;
  let s = 0;
  for (let j = 0; j < keys.length; j++) {
    const k = keys[j]!;
    let dot = 0;
    for (let i = 0; i < d; i++) dot += k[i]! * q16[i]!;
    const score = Math.fround(Math.fround(dot) * scale);
    let ms = 1;
    let vs = 1;
    if (score > m) {
      ms = Math.fround(Math.exp(m - score));
      m = score;
      for (let i = 0; i < d; i++) acc[i] = f16Round(acc[i]! * ms);
    } else {
      vs = Math.fround(Math.exp(score - m));
    }
    const v = values[j]!;
    for (let i = 0; i < d; i++) acc[i] = f16Round(acc[i]! + v[i]! * vs);
    s = Math.fround(s * ms + vs);
  }
  const out = new Float32Array(d);
  for (let i = 0; i < d; i++) out[i] = acc[i]! / s;
  return out;
}

/** One head's attention output, textbook style: softmax of scaled scores in float64. */
function attendExact(q: Float32Array, keys: Float32Array[], values: Float32Array[], scale: number): Float32Array {
  const d = q.length;
  const scores = keys.map((k) => {
    let dot = 0;
    for (let i = 0; i < d; i++) dot += k[i]! * q[i]!;
    return dot * scale;
  });
  const p = softmax(scores);
  const out = new Float64Array(d);
  for (let j = 0; j < values.length; j++) for (let i = 0; i < d; i++) out[i]! += p[j]! * values[j]![i]!;
  return Float32Array.from(out);
}

/**
 * Evaluates `tokens` from an empty cache (every position attends causally to itself and
 * the ones before it) and returns the logits of the last position, like the binding's
 * `context.evaluate(tokens)`.
 */
export function referenceLogits(model: RefModel, tokens: readonly number[], opts: ForwardOptions = {}): Float32Array {
  const hidden = referenceHidden(model, tokens, opts);
  return matvec(tensorOf(model, 'output.weight').data, model.hparams.nEmbd, model.hparams.nVocab, hidden[hidden.length - 1]!);
}

/**
 * The final hidden state of every position after the output norm: what llama.cpp pools into
 * an embedding (its `result_norm` tensor).
 */
export function referenceHidden(model: RefModel, tokens: readonly number[], opts: ForwardOptions = {}): Float32Array[] {
  const hp = model.hparams;
  const { nEmbd, nHead, nHeadKv, nRot } = hp;
  const headDim = nEmbd / nHead;
  const nEmbdKv = headDim * nHeadKv;
  const group = nHead / nHeadKv;
  const scale = Math.fround(1 / Math.sqrt(headDim));
  const f16Kv = opts.f16Kv ?? true;
  const flash = f16Kv && (opts.f16FlashAttn ?? true);
  const pairing = opts.ropePairing ?? 'adjacent';
  const embd = tensorOf(model, 'token_embd.weight').data;

  // Hidden state per position, updated layer by layer (all positions: later layers' keys
  // and values depend on every earlier position's output).
  let xs = tokens.map((t) => {
    if (!Number.isInteger(t) || t < 0 || t >= hp.nVocab) throw new RangeError(`token ${t} out of range`);
    return embd.slice(t * nEmbd, (t + 1) * nEmbd);
  });

  for (let il = 0; il < hp.nLayer; il++) {
    const w = layerWeights(model, il);
    const nFf = w.gate.length / nEmbd / Math.max(1, hp.nExpert);
    const qs: Float32Array[] = [];
    const ks: Float32Array[] = [];
    const vs: Float32Array[] = [];
    xs.forEach((x, pos) => {
      const h = rmsNorm(x, w.attnNorm, hp.rmsEps);
      const q = matvec(w.wq, nEmbd, nEmbd, h);
      const k = matvec(w.wk, nEmbd, nEmbdKv, h);
      const v = matvec(w.wv, nEmbd, nEmbdKv, h);
      ropeInPlace(q, headDim, nRot, pos, hp.ropeFreqBase, pairing);
      ropeInPlace(k, headDim, nRot, pos, hp.ropeFreqBase, pairing);
      qs.push(q);
      ks.push(f16Kv ? f16RoundAll(k) : k); // what the KV cache stores
      vs.push(f16Kv ? f16RoundAll(v) : v);
    });

    xs = xs.map((x, pos) => {
      const heads = new Float32Array(nEmbd);
      for (let head = 0; head < nHead; head++) {
        const kvHead = opts.gqaMapping === 'modulo' ? head % nHeadKv : Math.floor(head / group);
        const sliceOf = (a: Float32Array, h: number) => a.subarray(h * headDim, (h + 1) * headDim);
        const keys = ks.slice(0, pos + 1).map((k) => sliceOf(k, kvHead));
        const values = vs.slice(0, pos + 1).map((v) => sliceOf(v, kvHead));
        const attend = flash ? attendFlashF16 : attendExact;
        heads.set(attend(sliceOf(qs[pos]!, head), keys, values, scale), head * headDim);
      }
      const o = matvec(w.wo, nEmbd, nEmbd, heads);
      const ffnIn = new Float32Array(nEmbd);
      for (let i = 0; i < nEmbd; i++) ffnIn[i] = (opts.attnResidual === false ? 0 : x[i]!) + o[i]!;

      const h2 = rmsNorm(ffnIn, w.ffnNorm, hp.rmsEps);
      const ffn = hp.nExpert > 0 ? moeFfn(model, w, h2, nFf, opts) : swiglu(w, h2, nEmbd, nFf);
      const out = new Float32Array(nEmbd);
      for (let i = 0; i < nEmbd; i++) out[i] = ffnIn[i]! + ffn[i]!;
      return out;
    });
  }

  const norm = tensorOf(model, 'output_norm.weight').data;
  return xs.map((x) => rmsNorm(x, norm, hp.rmsEps));
}
