#!/usr/bin/env node
// The bundled build (npm run build) starts fastest; this is what runs at boot.
import { main } from '../dist/vmsvc.js';

process.exitCode = await main(process.argv.slice(2));
