import { Command, CommanderError } from 'commander';
import { VisageError } from '../errors.js';
import { visageVersion } from '../paths.js';
import { registerBench } from './commands/bench.js';
import { registerDemo } from './commands/demo.js';
import { registerEval } from './commands/eval.js';
import { registerFaces } from './commands/faces.js';
import { registerInfo } from './commands/info.js';
import { registerServe } from './commands/serve.js';
import { registerStyle } from './commands/style.js';
import { registerTrain } from './commands/train.js';
import { out, reportError } from './output.js';

/** The whole CLI; each command lives in commands/<verb>.ts and mirrors a library function. */
export function buildProgram(): Command {
  const program = new Command('visage')
    .description('Face verification and one-shot recognition, triplet-loss training, neural style transfer')
    .version(visageVersion())
    .option('--json', 'machine-readable JSON on stdout')
    .option('-q, --quiet', 'no progress or notes on stderr')
    // commander's own messages go through reportError, so they carry E_USAGE (and JSON under --json).
    .configureOutput({ outputError: () => {} })
    .hook('preAction', (cmd) => {
      const o = cmd.optsWithGlobals<{ json?: boolean; quiet?: boolean }>();
      out.json = Boolean(o.json);
      out.quiet = Boolean(o.quiet);
    });
  registerInfo(program);
  registerFaces(program);
  registerEval(program);
  registerStyle(program);
  registerDemo(program);
  registerBench(program);
  registerTrain(program);
  registerServe(program);
  return program;
}

/** Run the CLI and return the process exit code: 0 ok, 1 usage, 2 input, 3 internal. */
export async function runCli(argv: string[]): Promise<number> {
  const program = buildProgram();
  program.exitOverride();
  for (const c of program.commands) c.exitOverride();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version "errors" are successful exits.
      if (
        e.code === 'commander.helpDisplayed' ||
        e.code === 'commander.version' ||
        e.code === 'commander.help'
      )
        return 0;
      out.json = argv.includes('--json');
      return reportError(new VisageError('E_USAGE', `${e.message.replace(/^error: /, '')} (see --help)`));
    }
    if (e instanceof VisageError || e instanceof Error) return reportError(e);
    return reportError(new Error(String(e)));
  }
}
