// A QR code encoder (ISO/IEC 18004): byte mode, error correction level M,
// versions 1 to 40, the mask with the lowest penalty; drawn on a canvas.
// Written for the device enrolment page, so that no library is fetched.

// Per version (index 1..40), level M: EC codewords per block, blocks in
// group 1, data codewords per group-1 block, blocks in group 2 (each one
// data codeword more).
const M_EC = [0, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26,
  26, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28];
const M_BLOCKS = [0, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16, 17, 17, 18, 20,
  21, 23, 25, 26, 28, 29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49];

function rawModules(ver) {
  // modules available for data and EC (Nayuki's formula)
  let r = (16 * ver + 128) * ver + 64;
  if (ver >= 2) {
    const n = Math.floor(ver / 7) + 2;
    r -= (25 * n - 10) * n - 55;
    if (ver >= 7) r -= 36;
  }
  return r;
}

function dataCodewords(ver) {
  return Math.floor(rawModules(ver) / 8) - M_EC[ver] * M_BLOCKS[ver];
}

// --- Reed-Solomon over GF(256), polynomial 0x11d ---------------------------
const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
(() => {
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255];
})();

function mul(a, b) {
  return a && b ? EXP[LOG[a] + LOG[b]] : 0;
}

function generator(degree) {
  let g = [1];
  for (let i = 0; i < degree; i++) {
    const n = new Array(g.length + 1).fill(0);
    for (let j = 0; j < g.length; j++) {
      n[j] ^= g[j];
      n[j + 1] ^= mul(g[j], EXP[i]);
    }
    g = n;
  }
  return g;
}

function remainder(data, gen) {
  const deg = gen.length - 1;
  const r = new Array(deg).fill(0);
  for (const b of data) {
    const f = b ^ r.shift();
    r.push(0);
    for (let i = 0; i < deg; i++) r[i] ^= mul(gen[i + 1], f);
  }
  return r;
}

// --- the codewords ------------------------------------------------------------

function codewords(bytes, ver) {
  const cap = dataCodewords(ver);
  const bits = [];
  const put = (v, n) => {
    for (let i = n - 1; i >= 0; i--) bits.push((v >>> i) & 1);
  };
  put(4, 4); // byte mode
  put(bytes.length, ver < 10 ? 8 : 16);
  for (const b of bytes) put(b, 8);
  put(0, Math.min(4, cap * 8 - bits.length));
  while (bits.length % 8) bits.push(0);
  const data = [];
  for (let i = 0; i < bits.length; i += 8) {
    let v = 0;
    for (let j = 0; j < 8; j++) v = (v << 1) | bits[i + j];
    data.push(v);
  }
  for (let pad = 0xec; data.length < cap; pad ^= 0xec ^ 0x11) data.push(pad);

  const nb = M_BLOCKS[ver];
  const ec = M_EC[ver];
  const short = Math.floor(cap / nb);
  const longs = cap % nb; // the last `longs` blocks hold one more
  const gen = generator(ec);
  const blocks = [];
  let k = 0;
  for (let i = 0; i < nb; i++) {
    const len = short + (i >= nb - longs ? 1 : 0);
    const d = data.slice(k, k + len);
    k += len;
    blocks.push({ d, e: remainder(d, gen) });
  }
  const out = [];
  for (let i = 0; i <= short; i++) for (const b of blocks) if (i < b.d.length) out.push(b.d[i]);
  for (let i = 0; i < ec; i++) for (const b of blocks) out.push(b.e[i]);
  return out;
}

// --- the matrix -----------------------------------------------------------------

function alignment(ver) {
  if (ver === 1) return [];
  const n = Math.floor(ver / 7) + 2;
  const size = ver * 4 + 17;
  const step = ver === 32 ? 26 : Math.ceil((size - 13) / (n * 2 - 2)) * 2;
  const p = [6];
  for (let pos = size - 7; p.length < n; pos -= step) p.splice(1, 0, pos);
  return p;
}

function bch(value, poly, bits) {
  let v = value << bits;
  const top = Math.floor(Math.log2(poly));
  for (let i = Math.floor(Math.log2(v || 1)); i >= top; i--) if ((v >>> i) & 1) v ^= poly << (i - top);
  return (value << bits) | v;
}

const MASKS = [
  (r, c) => (r + c) % 2 === 0,
  (r) => r % 2 === 0,
  (r, c) => c % 3 === 0,
  (r, c) => (r + c) % 3 === 0,
  (r, c) => (Math.floor(r / 2) + Math.floor(c / 3)) % 2 === 0,
  (r, c) => ((r * c) % 2) + ((r * c) % 3) === 0,
  (r, c) => (((r * c) % 2) + ((r * c) % 3)) % 2 === 0,
  (r, c) => (((r + c) % 2) + ((r * c) % 3)) % 2 === 0,
];

function base(ver) {
  const size = ver * 4 + 17;
  const m = [];
  const fn = [];
  for (let i = 0; i < size; i++) {
    m.push(new Array(size).fill(false));
    fn.push(new Array(size).fill(false));
  }
  const set = (r, c, v) => {
    m[r][c] = v;
    fn[r][c] = true;
  };
  for (const [r0, c0] of [[0, 0], [0, size - 7], [size - 7, 0]]) {
    for (let r = -1; r <= 7; r++) {
      for (let c = -1; c <= 7; c++) {
        const rr = r0 + r;
        const cc = c0 + c;
        if (rr < 0 || cc < 0 || rr >= size || cc >= size) continue;
        const ring = Math.max(Math.abs(r - 3), Math.abs(c - 3));
        set(rr, cc, r >= 0 && r <= 6 && c >= 0 && c <= 6 && ring !== 2);
      }
    }
  }
  for (let i = 8; i < size - 8; i++) {
    set(6, i, i % 2 === 0);
    set(i, 6, i % 2 === 0);
  }
  const al = alignment(ver);
  const last = al.length - 1;
  for (let i = 0; i <= last; i++) {
    for (let j = 0; j <= last; j++) {
      if ((i === 0 && j === 0) || (i === 0 && j === last) || (i === last && j === 0)) continue; // the finders
      const r = al[i];
      const c = al[j];
      for (let dr = -2; dr <= 2; dr++) {
        for (let dc = -2; dc <= 2; dc++) set(r + dr, c + dc, Math.max(Math.abs(dr), Math.abs(dc)) !== 1);
      }
    }
  }
  // reserve format areas, the dark module and the version blocks
  for (let i = 0; i < 9; i++) {
    if (!fn[8][i]) set(8, i, false);
    if (!fn[i][8]) set(i, 8, false);
  }
  for (let i = 0; i < 8; i++) {
    set(8, size - 1 - i, false);
    set(size - 1 - i, 8, false);
  }
  set(size - 8, 8, true);
  if (ver >= 7) {
    const v = bch(ver, 0x1f25, 12);
    for (let i = 0; i < 18; i++) {
      const bit = ((v >>> i) & 1) === 1;
      const a = size - 11 + (i % 3);
      const b = Math.floor(i / 3);
      set(a, b, bit);
      set(b, a, bit);
    }
  }
  return { m, fn, size };
}

function format(m, size, mask) {
  // level M = 0b00
  const bits = bch((0 << 3) | mask, 0x537, 10) ^ 0x5412;
  const b = (i) => ((bits >>> i) & 1) === 1;
  // m[row][col]: the copy around the top-left finder, then the split one
  for (let i = 0; i <= 5; i++) m[i][8] = b(i);
  m[7][8] = b(6);
  m[8][8] = b(7);
  m[8][7] = b(8);
  for (let i = 9; i < 15; i++) m[8][14 - i] = b(i);
  for (let i = 0; i < 8; i++) m[8][size - 1 - i] = b(i);
  for (let i = 8; i < 15; i++) m[size - 15 + i][8] = b(i);
  m[size - 8][8] = true;
}

function place(m, fn, size, cw) {
  let i = 0;
  const total = cw.length * 8;
  for (let right = size - 1; right >= 1; right -= 2) {
    if (right === 6) right = 5;
    for (let vert = 0; vert < size; vert++) {
      for (let j = 0; j < 2; j++) {
        const c = right - j;
        const up = ((right + 1) & 2) === 0;
        const r = up ? size - 1 - vert : vert;
        if (fn[r][c]) continue;
        if (i < total) m[r][c] = ((cw[i >>> 3] >>> (7 - (i & 7))) & 1) === 1;
        i++;
      }
    }
  }
}

function penalty(m, size) {
  let p = 0;
  const runs = (get) => {
    for (let a = 0; a < size; a++) {
      let run = 1;
      for (let b = 1; b <= size; b++) {
        if (b < size && get(a, b) === get(a, b - 1)) run++;
        else {
          if (run >= 5) p += run - 2;
          run = 1;
        }
      }
      for (let b = 0; b + 11 <= size; b++) {
        const s = [];
        for (let k = 0; k < 11; k++) s.push(get(a, b + k) ? 1 : 0);
        const t = s.join("");
        if (t === "10111010000" || t === "00001011101") p += 40;
      }
    }
  };
  runs((r, c) => m[r][c]);
  runs((c, r) => m[r][c]);
  let dark = 0;
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; c++) {
      if (m[r][c]) dark++;
      if (r + 1 < size && c + 1 < size && m[r][c] === m[r + 1][c] && m[r][c] === m[r][c + 1] &&
        m[r][c] === m[r + 1][c + 1]) p += 3;
    }
  }
  p += Math.floor(Math.abs(dark * 20 - size * size * 10) / (size * size)) * 10;
  return p;
}

// The modules of the QR code holding `text` (UTF-8): an array of rows of booleans.
export function qrMatrix(text) {
  const bytes = Array.from(new TextEncoder().encode(text));
  let ver = 1;
  while (ver <= 40 && dataCodewords(ver) * 8 < 4 + (ver < 10 ? 8 : 16) + bytes.length * 8) ver++;
  if (ver > 40) throw new RangeError("trop long pour un code QR");
  const cw = codewords(bytes, ver);
  let best = null;
  let bestScore = Infinity;
  for (let mask = 0; mask < 8; mask++) {
    const { m, fn, size } = base(ver);
    place(m, fn, size, cw);
    for (let r = 0; r < size; r++) for (let c = 0; c < size; c++) if (!fn[r][c] && MASKS[mask](r, c)) m[r][c] = !m[r][c];
    format(m, size, mask);
    const s = penalty(m, size);
    if (s < bestScore) {
      bestScore = s;
      best = m;
    }
  }
  return best;
}

// Draws the code on `canvas`, `scale` pixels a module, a quiet zone of 4.
export function qrDraw(canvas, text, scale = 6) {
  const m = qrMatrix(text);
  const n = m.length + 8;
  canvas.width = n * scale;
  canvas.height = n * scale;
  const g = canvas.getContext("2d");
  g.fillStyle = "#fff";
  g.fillRect(0, 0, canvas.width, canvas.height);
  g.fillStyle = "#000";
  for (let r = 0; r < m.length; r++) {
    for (let c = 0; c < m.length; c++) if (m[r][c]) g.fillRect((c + 4) * scale, (r + 4) * scale, scale, scale);
  }
  return m.length;
}
