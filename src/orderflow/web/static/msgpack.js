// A MessagePack decoder for the viewer stream's binary frames (/ws/view?format=msgpack): maps
// become plain objects, arrays arrays, strings strings, nil null, integers and floats numbers.
// A 64-bit integer becomes the nearest double, as JSON.parse makes of the same digits (the data
// clock's nanoseconds), so a decoded frame equals the JSON text form of the same frame. Bin
// becomes a Uint8Array; ext types and anything malformed throw (the frame is dropped).

const utf8 = new TextDecoder("utf-8", { fatal: true });
const TWO32 = 4294967296;

export function decode(buf) {
  const bytes = buf instanceof Uint8Array ? buf : new Uint8Array(buf);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;

  function need(n) {
    if (pos + n > bytes.length) throw new RangeError("msgpack: truncated");
  }

  function str(n) {
    need(n);
    const start = pos;
    pos += n;
    if (n < 24) {
      // short strings (the keys): ASCII without a TextDecoder call
      let s = "";
      for (let i = start; i < start + n; i++) {
        const c = bytes[i];
        if (c > 0x7f) return utf8.decode(bytes.subarray(start, start + n));
        s += String.fromCharCode(c);
      }
      return s;
    }
    return utf8.decode(bytes.subarray(start, start + n));
  }

  function count(n) {
    // every item takes a byte at least: a length past the end is malformed, not allocated
    if (n > bytes.length - pos) throw new RangeError("msgpack: truncated");
  }

  function array(n) {
    count(n);
    const out = new Array(n);
    for (let i = 0; i < n; i++) out[i] = value();
    return out;
  }

  function map(n) {
    count(n);
    const out = {};
    for (let i = 0; i < n; i++) {
      const k = value();
      const key = typeof k === "string" ? k : String(k);
      const v = value();
      // an own property as JSON.parse makes it (never the prototype)
      if (key === "__proto__") Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
      else out[key] = v;
    }
    return out;
  }

  function value() {
    need(1);
    const b = bytes[pos++];
    if (b <= 0x7f) return b;
    if (b >= 0xe0) return b - 0x100;
    if (b >= 0xa0 && b <= 0xbf) return str(b & 0x1f);
    if (b >= 0x90 && b <= 0x9f) return array(b & 0x0f);
    if (b >= 0x80 && b <= 0x8f) return map(b & 0x0f);
    let v;
    switch (b) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xcc: need(1); return bytes[pos++];
      case 0xcd: need(2); v = view.getUint16(pos); pos += 2; return v;
      case 0xce: need(4); v = view.getUint32(pos); pos += 4; return v;
      case 0xcf: need(8); v = view.getUint32(pos) * TWO32 + view.getUint32(pos + 4); pos += 8; return v;
      case 0xd0: need(1); return view.getInt8(pos++);
      case 0xd1: need(2); v = view.getInt16(pos); pos += 2; return v;
      case 0xd2: need(4); v = view.getInt32(pos); pos += 4; return v;
      case 0xd3: need(8); v = view.getInt32(pos) * TWO32 + view.getUint32(pos + 4); pos += 8; return v;
      case 0xca: need(4); v = view.getFloat32(pos); pos += 4; return v;
      case 0xcb: need(8); v = view.getFloat64(pos); pos += 8; return v;
      case 0xd9: need(1); return str(bytes[pos++]);
      case 0xda: need(2); v = view.getUint16(pos); pos += 2; return str(v);
      case 0xdb: need(4); v = view.getUint32(pos); pos += 4; return str(v);
      case 0xc4: need(1); v = bytes[pos++]; need(v); pos += v; return bytes.slice(pos - v, pos);
      case 0xc5: need(2); v = view.getUint16(pos); pos += 2; need(v); pos += v; return bytes.slice(pos - v, pos);
      case 0xc6: need(4); v = view.getUint32(pos); pos += 4; need(v); pos += v; return bytes.slice(pos - v, pos);
      case 0xdc: need(2); v = view.getUint16(pos); pos += 2; return array(v);
      case 0xdd: need(4); v = view.getUint32(pos); pos += 4; return array(v);
      case 0xde: need(2); v = view.getUint16(pos); pos += 2; return map(v);
      case 0xdf: need(4); v = view.getUint32(pos); pos += 4; return map(v);
      default: throw new TypeError(`msgpack: unsupported type 0x${b.toString(16)}`);
    }
  }

  const out = value();
  if (pos !== bytes.length) throw new RangeError("msgpack: trailing bytes");
  return out;
}
