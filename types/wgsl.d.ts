// `.wgsl` files are bundled as text by esbuild (loader "text") and by tsx in tests (see scripts/wgsl-loader.mjs).
declare module '*.wgsl' {
  const source: string;
  export default source;
}
