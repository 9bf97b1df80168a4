/** `@tesseract.js-data/eng` ships no types: it exports where its model files are. */
declare module '@tesseract.js-data/eng' {
  const data: { readonly code: string; readonly gzip: boolean; readonly langPath: string };
  export default data;
}
