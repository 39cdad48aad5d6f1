/** Child-process entry of `visage bench style`: one case per process, so its peaks are its own (bench.ts). */
import { styleCaseMain } from './style.js';

await styleCaseMain(process.argv[2]);
// The wasm backend and sharp keep handles open; the result is printed, so leave now.
process.exit(0);
