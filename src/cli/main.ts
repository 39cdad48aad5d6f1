#!/usr/bin/env node
import { runCli } from './program.js';

// A command may set its own exit code (e.g. 130 after Ctrl-C saved a checkpoint); errors map to 1/2/3.
const code = await runCli(process.argv);
process.exitCode = code !== 0 ? code : (process.exitCode ?? 0);
