/**
 * The layer order of src/, lowest first: the one declaration that docs/architecture.md describes and
 * test/architecture/imports.test.ts enforces. A file belongs to the layer with the longest matching
 * path prefix. It may import files of its own layer and of any layer on a lower level; layers on the
 * same level are siblings and may not import each other.
 */
export interface Layer {
  name: string;
  /** Paths relative to the repository root: a folder ending in `/`, or one file. */
  paths: string[];
}

export const LAYER_LEVELS: Layer[][] = [
  [
    {
      name: 'base',
      paths: [
        'src/errors.ts',
        'src/config.ts',
        'src/paths.ts',
        'src/files.ts',
        'src/options.ts',
        'src/util/',
      ],
    },
  ],
  [{ name: 'engine', paths: ['src/engine/'] }],
  [{ name: 'image', paths: ['src/image/'] }],
  [
    { name: 'faces', paths: ['src/faces/'] },
    { name: 'style', paths: ['src/style/'] },
  ],
  [{ name: 'store', paths: ['src/store/'] }],
  [{ name: 'eval', paths: ['src/eval/'] }],
  [{ name: 'training', paths: ['src/training/'] }],
  [{ name: 'bench', paths: ['src/bench/'] }],
  [{ name: 'api', paths: ['src/api.ts'] }],
  [{ name: 'entry', paths: ['src/index.ts', 'src/cli/', 'src/server/'] }],
];
