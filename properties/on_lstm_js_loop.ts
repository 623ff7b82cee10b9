// ON-LSTM's apply as it was before its time loop became lax.scan (models/on_lstm.ts at 1b64632):
// the cell run by a JS loop over np ops, kept as the oracle that on_lstm_scan.test.ts compares the
// scan version against (values and gradients, masks, initial states and batch broadcasting
// included). Copied verbatim; only the imports changed, the shape checks (checkParams, checkState,
// checkChunks: on_lstm.ts's own) dropped, so p is read off the parameters' width, and the cell
// taken from on_lstm.ts.
import { np, type ArrayLike, type NDArray } from '../src/index.js';
import { broadcastShapes } from '../src/shape.js';
import { cell, initialState, levels, type OnLstmConfig, type OnLstmParams, type OnLstmState, type SequenceOutput } from '../models/on_lstm.js';

const op = np.defop;

// The step is on_lstm.ts's public cell (its checks run once a step here): the oracle is of the time loop.
const cellStep = cell;

/** The parameters' leaves as arrays (checkParams accepts nested JS arrays, as it does for the state). */
const asArrays = (params: OnLstmParams): OnLstmParams => ({ wx: np.asArray(params.wx), wh: np.asArray(params.wh), b: np.asArray(params.b) });

/**
 * Runs the cell over xs [..., T, in] (batch-major, time on axis −2). Masked steps (mask [..., T]
 * false or 0) keep the state and report the previous hidden state.
 */
export const apply = op((params: OnLstmParams, xs: ArrayLike, config: OnLstmConfig & { initialState?: OnLstmState; mask?: ArrayLike } = {}): SequenceOutput => {
  const x = np.asArray(xs);
  params = asArrays(params);
  const batch = x.shape.slice(0, -2);
  // The batch of the outputs: xs's, the initial state's and the mask's broadcast together (the
  // checks that computed it in on_lstm.ts, with their error messages, are dropped here).
  const lead = (v: ArrayLike) => np.asArray(v).shape.slice(0, -1);
  const init0 = config.initialState;
  const full = broadcastShapes('onLstm.apply', batch, ...(init0 === undefined ? [] : [lead(init0.h), lead(init0.c)]), ...(config.mask === undefined ? [] : [lead(config.mask)]));
  const p = (params.wh.shape[1]! - 4 * params.wh.shape[0]!) / 2;
  const n = params.wh.shape[0]!;
  const T = x.shape[x.ndim - 2]!;
  const init = config.initialState;
  const widen = (v: ArrayLike) => {
    const a = np.asArray(v);
    return a.shape.slice(0, -1).join() === full.join() ? a : np.broadcastTo(a, [...full, n]);
  };
  // The state the steps start from: the initial state widened to the full batch, or zeros of it.
  let state = init === undefined ? initialState(n, full) : { h: widen(init.h), c: widen(init.c) };
  if (T === 0) {
    // A scan over no steps (as in JAX, whose carry has the widened shape): empty outputs of the
    // batch the steps would have had, and the state they would have started from (the initial
    // state broadcast to that batch, its gradient summed back; it used to come back as given,
    // [n] for xs [2, 0, in] while T = 1 gave [2, n]).
    const fTilde = np.zeros([...full, 0, p]);
    return { h: np.zeros([...full, 0, n]), fTilde, levels: levels(fTilde), state };
  }
  const xt = np.moveaxis(x, -2, 0);
  const mt = config.mask === undefined ? null : np.moveaxis(np.notEqual(config.mask, 0), -1, 0);
  const hs: NDArray[] = [], fs: NDArray[] = [];
  for (let t = 0; t < T; t++) {
    const out = cellStep(params, state, xt.at(t), config);
    if (mt) {
      const keep = np.expandDims(mt.at(t), -1);
      state = { h: np.where(keep, out.state.h, state.h), c: np.where(keep, out.state.c, state.c) };
    } else {
      state = out.state;
    }
    hs.push(state.h);
    fs.push(out.fTilde);
  }
  const fTilde = np.stack(fs, -2);
  return { h: np.stack(hs, -2), fTilde, levels: levels(fTilde), state };
});

