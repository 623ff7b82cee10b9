// gradus/models: models as plain functions over parameter trees.
export * as nn from './nn.js';
export * as init from './init.js';
