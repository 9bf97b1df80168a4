export declare const DIST: string;
export declare const JS_BUDGET_BYTES: number;
export declare const APPS: Record<'console' | 'app', string>;
export declare function sourceHash(): Promise<string>;
export declare function buildWeb(): Promise<string>;
export declare function webBuildIsFresh(): Promise<boolean>;
export declare function ensureWebBuild(
  print?: (line: string) => void,
): Promise<'fresh' | 'stale' | 'built'>;
export declare function jsSizes(
  dist?: string,
): Promise<Record<'console' | 'app', { files: string[]; raw: number; gzip: number }>>;
