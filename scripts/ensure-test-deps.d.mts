/** Types of scripts/ensure-test-deps.mjs (for the test that drives it). */
export function readPackageList(text: string): string[];
export function dpkgInstalled(name: string): boolean;
export function aptInstall(names: string[]): boolean;
export function ensure(o: {
  packages: string[];
  isInstalled: (name: string) => boolean;
  install: (names: string[]) => boolean;
  isRoot: boolean;
  log: (message: string) => void;
}): number;
