// gradus/models: models as plain functions over parameter trees.
export * as nn from './nn.js';
export * as init from './init.js';
export * as gan from './gan.js';
export * as ebm from './ebm.js';
export * as losses from './losses.js';
export * as crf from './crf.js';
export * as onLstm from './on_lstm.js';
export * as vqvae from './vqvae.js';
export * as flows from './flows/index.js';
