#!/usr/bin/env node
import { runCli } from './program.js';

// Ctrl-C handling is per command (training and style save their progress); a second Ctrl-C exits at once.
const code = await runCli(process.argv);
process.exitCode = code;
