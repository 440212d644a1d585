[CmdletBinding(SupportsShouldProcess)]
param(
    [Parameter(Mandatory)] [string] $VaultName,
    [Parameter(Mandatory)] [string] $SecretName,
    [int] $ExpiryDays = 90
)
$ErrorActionPreference = 'Stop'

$previous = Get-AzKeyVaultSecret -VaultName $VaultName -Name $SecretName
$bytes = New-Object byte[] 32
[System.Security.Cryptography.RandomNumberGenerator]::Create().GetBytes($bytes)
$value = ConvertTo-SecureString ([Convert]::ToBase64String($bytes)) -AsPlainText -Force

if ($PSCmdlet.ShouldProcess("$VaultName/$SecretName", 'rotate')) {
    $new = Set-AzKeyVaultSecret -VaultName $VaultName -Name $SecretName -SecretValue $value `
        -Expires (Get-Date).ToUniversalTime().AddDays($ExpiryDays)
    Update-AzKeyVaultSecret -VaultName $VaultName -Name $SecretName -Version $previous.Version -Enable $false
    Write-Host "Rotated $SecretName -> version $($new.Version); previous $($previous.Version) disabled"
}
