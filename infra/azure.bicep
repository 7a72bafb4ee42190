// MeetBot on Azure App Service (Linux), with its Azure Bot, as `atk provision` deploys it
// (m365agents.yml, arm/deploy). Shape mirrors the Microsoft 365 Agents Toolkit's Python bot
// template (infra/azure.bicep): a Linux plan, a web app with Always On, a user-assigned managed
// identity, and the Azure Bot module. Not compiled or deployed in this repository's CI: there is
// no Bicep CLI or Azure here (tests/test_deploy.py only parses it and checks its settings).
//
// The bot's client secret never appears in an app setting: it is stored in Key Vault and the
// setting is a Key Vault reference resolved with the user-assigned identity
// ("Use Key Vault references as app settings in Azure App Service").

@maxLength(20)
@minLength(4)
@description('Used to generate names for all resources in this file')
param resourceBaseName string

@description('The bot\'s Microsoft Entra app (client) id (aadApp/create: BOT_ID)')
param botAadAppClientId string

@description('The Entra app\'s home tenant (aadApp/create: BOT_TENANT_ID)')
param botAadAppTenantId string

@secure()
@description('The Entra app\'s client secret (aadApp/create: SECRET_BOT_PASSWORD)')
param botAadAppClientSecret string

@maxLength(42)
param botDisplayName string

@description('App Service plan SKU: Basic (B1) or higher, Always On needs it')
param webAppSKU string = 'B1'

@description('Runtime stack: the Python that requirements.lock was compiled for')
param linuxFxVersion string = 'PYTHON|3.11'

@description('Name of the Azure Bot OAuth connection setting (the bot\'s SSO_CONNECTION_NAME)')
param oauthConnectionName string = 'graph-sso'

@description('Tenants whose users may use the bot (ALLOWED_TENANTS); the app\'s own by default')
param allowedTenants string = botAadAppTenantId

param serverfarmsName string = resourceBaseName
param webAppName string = resourceBaseName
param identityName string = resourceBaseName
param keyVaultName string = '${resourceBaseName}kv'
param location string = resourceGroup().location

var keyVaultSecretsUserRoleId = '4633458b-17de-408a-b874-0445c86b69e6' // built-in role "Key Vault Secrets User"

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  location: location
  name: identityName
}

resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: keyVaultName
  location: location
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
  }
}

resource botPasswordSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: keyVault
  name: 'MicrosoftAppPassword'
  properties: {
    value: botAadAppClientSecret
  }
}

// The web app's identity may read secrets of this vault, nothing else.
resource identityReadsSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: keyVault
  name: guid(keyVault.id, identity.id, keyVaultSecretsUserRoleId)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUserRoleId)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Compute resources for your Web App
resource serverfarm 'Microsoft.Web/serverfarms@2022-09-01' = {
  kind: 'app,linux'
  location: location
  name: serverfarmsName
  sku: {
    name: webAppSKU
  }
  properties: {
    reserved: true
  }
}

// Web App that hosts MeetBot
resource webApp 'Microsoft.Web/sites@2022-09-01' = {
  kind: 'app,linux'
  location: location
  name: webAppName
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: serverfarm.id
    httpsOnly: true
    keyVaultReferenceIdentity: identity.id
    siteConfig: {
      alwaysOn: true
      // The startup command: the gunicorn form of app.py (README "App Service settings").
      // --no-control-socket: MeetBot has no use for gunicornc, and App Service's $HOME is
      // storage that every instance of the app shares.
      appCommandLine: 'gunicorn app:create_app --worker-class aiohttp.GunicornWebWorker --no-control-socket --bind 0.0.0.0:$PORT'
      healthCheckPath: '/healthz'
      linuxFxVersion: linuxFxVersion
      ftpsState: 'Disabled'
      minTlsVersion: '1.2'
    }
  }
}

// The app settings in a resource of their own: BOT_DOMAIN is the web app's own host name.
// Each name is one bot/config.py reads (tests/test_deploy.py checks), except the two build
// settings for App Service's build (Oryx).
resource webAppSettings 'Microsoft.Web/sites/config@2022-09-01' = {
  parent: webApp
  name: 'appsettings'
  properties: {
    SCM_DO_BUILD_DURING_DEPLOYMENT: 'true'
    // Oryx installs this file instead of requirements.txt: the hashed lock, so pip checks hashes.
    CUSTOM_REQUIREMENTSTXT_PATH: 'requirements.lock'
    PORT: '8000'
    MicrosoftAppId: botAadAppClientId
    MicrosoftAppPassword: '@Microsoft.KeyVault(SecretUri=${botPasswordSecret.properties.secretUri})'
    MicrosoftAppType: 'SingleTenant'
    MicrosoftAppTenantId: botAadAppTenantId
    GRAPH_AUTH_MODE: 'delegated'
    BOT_DOMAIN: webApp.properties.defaultHostName
    SSO_CONNECTION_NAME: oauthConnectionName
    ALLOWED_TENANTS: allowedTenants
  }
  dependsOn: [
    identityReadsSecrets
  ]
}

// Register your web service as a bot with the Bot Framework
module azureBotRegistration './botRegistration/azurebot.bicep' = {
  name: 'Azure-Bot-registration'
  params: {
    resourceBaseName: resourceBaseName
    botDisplayName: botDisplayName
    botAppDomain: webApp.properties.defaultHostName
    botAadAppClientId: botAadAppClientId
    botAadAppTenantId: botAadAppTenantId
    botAadAppClientSecret: botAadAppClientSecret
    oauthConnectionName: oauthConnectionName
  }
}

// The outputs are written to env/.env.{envName} (https://aka.ms/teamsfx-actions/arm-deploy).
output BOT_AZURE_APP_SERVICE_RESOURCE_ID string = webApp.id
output BOT_DOMAIN string = webApp.properties.defaultHostName
output BOT_ENDPOINT string = 'https://${webApp.properties.defaultHostName}'
output SSO_CONNECTION_NAME string = oauthConnectionName
